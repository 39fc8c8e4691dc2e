"""``python -m esp_sandbox``: serve the sandbox ESP until interrupted."""

import argparse
import sys

from werkzeug.serving import make_server

from .app import create_app
from .campaign_master import jobs, service
from .config import (
    DEFAULT_API_PASSWORD,
    DEFAULT_API_USER,
    DEFAULT_CM_CLIENT_ID,
    DEFAULT_CM_TOKEN_MINUTES,
    DEFAULT_PORT,
    SandboxConfig,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m esp_sandbox",
        description="Sandbox ESP speaking dotdigital's v2 REST API (Basic auth) and Campaign Master's SOAP "
        "services (Login with client ID, user and password), with a control surface under /sandbox/ "
        "(see esp_sandbox/README.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port, 0 for a free one (default: %(default)s)")
    parser.add_argument("--api-user", default=DEFAULT_API_USER, help="API user name for Basic auth (default: %(default)s)")
    parser.add_argument("--api-password", default=DEFAULT_API_PASSWORD,
                        help="API user password for Basic auth (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42,
                        help="seed of the engagement simulation; same seed, same figures (default: %(default)s)")
    parser.add_argument("--state-dir", default=None,
                        help="keep data in DIR/sandbox.sqlite3 across restarts (default: in memory)")
    parser.add_argument("--cm-client-id", type=int, default=DEFAULT_CM_CLIENT_ID,
                        help="client ID of Campaign Master's Login, with the API user and password "
                        "(default: %(default)s)")
    parser.add_argument("--cm-token-minutes", type=int, default=DEFAULT_CM_TOKEN_MINUTES,
                        help="minutes of sandbox clock a Campaign Master login token lasts (default: %(default)s)")
    parser.add_argument("--cm-member-case", choices=("wire-inferred", "as-recorded"), default="wire-inferred",
                        help="casing of Campaign Master's member names (default: %(default)s)")
    parser.add_argument("--cm-extended", action="store_true",
                        help="also serve Campaign Master's assumed operations (lists, templates, from addresses, "
                             "campaign create/update/test/send), which no public evidence shows")
    parser.add_argument("--v3-contacts", action="store_true",
                        help="let the API user call the v3 Contacts and Configuration APIs (403 otherwise)")
    parser.add_argument("--custom-identifier", action="append", default=[], metavar="NAME",
                        help="a custom contact identifier of the account, e.g. odooId (repeatable)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    config = SandboxConfig(host=args.host, port=args.port, api_user=args.api_user, api_password=args.api_password,
                           seed=args.seed, state_dir=args.state_dir, cm_client_id=args.cm_client_id,
                           cm_token_minutes=args.cm_token_minutes,
                           cm_member_case=args.cm_member_case, cm_extended=args.cm_extended,
                           v3_contacts=args.v3_contacts, custom_identifiers=list(args.custom_identifier))
    app = create_app(config)
    server = make_server(args.host, args.port, app, threaded=True)
    url = f"http://{args.host}:{server.server_port}"
    print(f"Sandbox ESP (dotdigital v2, Campaign Master SOAP) listening on {url}", flush=True)
    print(f"  API user: {args.api_user}\n  password: {args.api_password}", flush=True)
    print(f"  control:  {url}/sandbox/   data: {args.state_dir or 'in memory'}", flush=True)
    print(f"  Campaign Master (client ID {args.cm_client_id}): {url}{service.PATH}?wsdl and {url}{jobs.PATH}?wsdl",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
