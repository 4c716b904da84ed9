"""The layers of resolution that can decide a property's value, lowest first (:mod:`.resolve`).

Its own module because a manifest names the layer that decided each pin: reading one (the libvirt
hook, on every guarded start) needs these names and none of the resolver.
"""

from __future__ import annotations

import enum


class Layer(enum.Enum):
    DEVICE_DEFAULT = "device-default"
    MACHINE_TYPE = "machine-type"
    BACKEND = "backend"
    PLATFORM = "platform"
    USER_GLOBAL = "user-global"
    USER_DEVICE = "user-device"
