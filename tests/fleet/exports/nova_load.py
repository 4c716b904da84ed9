"""Load a Nova provider config directory with Nova's own loader, for the tests.

Run with the Placement venv's interpreter, where nova is installed without
its service dependencies (only nova.compute.provider_config is used):

    python nova_load.py DIR

prints the providers nova-compute would apply, as JSON, or the loader's
error on stderr with exit status 1.
"""

import json
import sys


def main() -> None:
    from nova import exception
    from nova.compute import provider_config

    try:
        configs = provider_config.get_provider_configs(sys.argv[1])
    except exception.ProviderConfigException as err:
        print(err, file=sys.stderr)
        sys.exit(1)
    out = {pid: {"traits": sorted(cfg.get("traits", {}).get("additional", [])),
                 "identification": cfg["identification"]} for pid, cfg in configs.items()}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
