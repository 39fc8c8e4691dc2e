# Shared by scripts/test and scripts/demo: find Odoo, prepare the Python environment, run PostgreSQL.
# Sourced, not executed. Everything it creates lives under the repository (.venv/, .data/) or a temp dir.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
ADDON=campaign_esp_connector
# The optional scale-out add-on (campaign_esp_connector_queue/) and OCA's queue_job it needs. queue_job is not
# pip-installed: its wheel puts an `odoo/` namespace into site-packages that shadows an editable Odoo, so
# only its add-on folder is unpacked into .venv/queue_job_addons/ and put on the addons path.
QUEUE_ADDON=campaign_esp_connector_queue
QUEUE_JOB_WHEELS="odoo-addon-queue-job==18.0.4.1.2.2"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

# -- Python and Odoo ---------------------------------------------------------------------------------------

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            BASE_PYTHON=$(command -v "$candidate")
            return 0
        fi
    done
    die "Python 3.10 or newer is required (set PYTHON=/path/to/python3)."
}

# Sets ODOO_MODE to "src" (an Odoo 18 tree in ODOO_SRC) or "importable" (python3 can already import odoo).
find_odoo() {
    if [ -n "${ODOO_SRC:-}" ]; then
        [ -f "$ODOO_SRC/odoo/release.py" ] && [ -d "$ODOO_SRC/odoo/addons/mass_mailing" ] ||
            die "ODOO_SRC=$ODOO_SRC is not an Odoo 18 source tree (expected odoo/release.py and odoo/addons/mass_mailing)."
        ODOO_SRC=$(cd "$ODOO_SRC" && pwd)
        ODOO_MODE=src
    elif "$BASE_PYTHON" -c 'import odoo' >/dev/null 2>&1; then
        ODOO_MODE=importable
    else
        cat >&2 <<'MSG'
error: Odoo 18 was not found, and this project cannot install it for you (Odoo 18 is not on PyPI).
Provide one of:
  - ODOO_SRC=/path/to/odoo     an Odoo 18.0 source tree: the folder holding odoo-bin (or setup.py) and the
                               odoo/ package, e.g. a clone of https://github.com/odoo/odoo --branch 18.0;
                               its requirements are installed into this project's .venv for you;
  - an importable odoo         `python3 -c "import odoo"` works, e.g. after `pip install -e /path/to/odoo`
                               together with Odoo's requirements.txt.
Then run the command again.
MSG
        exit 2
    fi
}

# Odoo's requirements.txt pins per Python version. On 3.11 the <3.12 pins include a cbor2 that no longer
# builds, while the >=3.12 pins all have 3.11 wheels, so 3.11+ takes those. python-ldap (auth_ldap only)
# needs system LDAP headers and is left out.
odoo_requirements() {
    "$VENV/bin/python" - "$1" <<'PY'
import sys
from packaging.requirements import Requirement

env = {"sys_platform": sys.platform}
if sys.version_info >= (3, 11):
    env.update(python_version="3.12", python_full_version="3.12.0")
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    req = Requirement(line)
    if req.name.lower() == "python-ldap" or (req.marker and not req.marker.evaluate(env)):
        continue
    req.marker = None
    print(req)
PY
}

# True when .venv's interpreter runs and imports the Odoo this run is meant to use.
venv_usable() {
    [ -x "$VENV/bin/python" ] || return 1
    local where
    where=$("$VENV/bin/python" -c 'import os, odoo; print(os.path.dirname(os.path.dirname(os.path.realpath(odoo.__file__))))' \
        2>/dev/null) || return 1
    [ "$ODOO_MODE" = importable ] || [ "$where" = "$(realpath "$ODOO_SRC")" ]
}

# True when .venv already satisfies requirements-test.txt (and ruff has its binary in .venv/bin).
venv_satisfied() {
    [ -x "$VENV/bin/ruff" ] || return 1
    "$VENV/bin/python" - "$ROOT/requirements-test.txt" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement

for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    req = Requirement(line)
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

# pip runs with -qq: this machine's pip configuration may name package indexes or folders that do not exist,
# and pip warns about each of them on every install; errors still show.
install_test_requirements() {
    "$VENV/bin/python" -m pip install -qq -r "$ROOT/requirements-test.txt" ||
        die "installing requirements-test.txt failed (see above)."
    # ruff is a binary: one found in the system's site-packages has no entry point in .venv/bin.
    "$VENV/bin/python" -m pip install -qq --ignore-installed --no-deps "$(grep -iE '^ruff[=<>~ ]' "$ROOT/requirements-test.txt")" ||
        die "installing ruff failed (see above)."
}

# Creates or reuses .venv. With an importable odoo it sees the system's site-packages (Odoo and its
# requirements are already there); with ODOO_SRC it is isolated and gets Odoo's requirements installed.
# The stamp makes a second start silent. Without a matching stamp (requirements-test.txt edited, a venv made
# by hand) a venv that still imports the right Odoo is kept: only what is missing is installed, since other
# commands may be running from it; it is rebuilt only when it cannot run that Odoo.
ensure_venv() {
    local stamp="$VENV/.campaign_esp_connector-stamp" want
    want="$ODOO_MODE:${ODOO_SRC:-}:$(cksum <"$ROOT/requirements-test.txt")"
    if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if venv_usable; then
        if ! venv_satisfied; then
            say "Updating the Python environment in .venv (requirements-test.txt changed) ..."
            install_test_requirements
        fi
        printf '%s' "$want" >"$stamp"
        return 0
    fi
    say "Preparing the Python environment in .venv ..."
    rm -rf "$VENV"
    if [ "$ODOO_MODE" = importable ]; then
        "$BASE_PYTHON" -m venv --system-site-packages "$VENV"
    else
        "$BASE_PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -qq --upgrade pip setuptools wheel packaging
        odoo_requirements "$ODOO_SRC/requirements.txt" >"$VENV/odoo-requirements.txt"
        "$VENV/bin/python" -m pip install -qq -r "$VENV/odoo-requirements.txt" ||
            die "installing Odoo's requirements failed (see above); PostgreSQL's libpq headers and gcc may be needed."
        local site
        site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        printf '%s\n' "$ODOO_SRC" >"$site/odoo-src.pth"
    fi
    install_test_requirements
    "$VENV/bin/python" -c 'import odoo' || die "odoo is not importable from .venv."
    printf '%s' "$want" >"$stamp"
}

# For `scripts/test --no-odoo`: an environment of its own (.venv-no-odoo/) with requirements-test.txt only, for
# the suites that need neither Odoo nor PostgreSQL (the sandbox ESP and the provider layer).
setup_plain_python() {
    pick_python
    local venv="$ROOT/.venv-no-odoo" stamp want
    stamp="$venv/.campaign_esp_connector-stamp"
    want="plain:$(cksum <"$ROOT/requirements-test.txt")"
    if ! [ -x "$venv/bin/python" ] || ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "Preparing the Python environment in .venv-no-odoo ..."
        rm -rf "$venv"
        "$BASE_PYTHON" -m venv "$venv"
        VENV=$venv install_test_requirements
        printf '%s' "$want" >"$stamp"
    fi
    PY="$venv/bin/python"
}

setup_python() {
    pick_python
    find_odoo
    ensure_venv
    PY="$VENV/bin/python"
    ODOO_ADDONS=$("$PY" -c 'import os, odoo; print(os.path.join(os.path.dirname(odoo.__file__), "addons"))')
    ADDONS_PATH="$ODOO_ADDONS,$ROOT"
}

# Fetches queue_job's wheel from PyPI once (a stamp names what was unpacked) and adds its add-on folder to
# ADDONS_PATH. QUEUE_JOB_WHEEL_DIR=/folder takes the wheel from there instead of PyPI (offline machines).
ensure_queue_job() {
    local dir="$VENV/queue_job_addons" stamp want wheels
    stamp="$dir/.campaign_esp_connector-stamp"
    want="$QUEUE_JOB_WHEELS"
    if ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! [ -f "$dir/queue_job/__manifest__.py" ]; then
        say "Fetching queue_job ($QUEUE_JOB_WHEELS) into .venv/queue_job_addons ..."
        wheels=$(mktemp -d /tmp/esp-queue-job.XXXXXX)
        # shellcheck disable=SC2086
        if [ -n "${QUEUE_JOB_WHEEL_DIR:-}" ]; then
            "$PY" -m pip download -qq --no-deps --no-index --find-links "$QUEUE_JOB_WHEEL_DIR" -d "$wheels" \
                $QUEUE_JOB_WHEELS
        else
            "$PY" -m pip download -qq --no-deps -d "$wheels" $QUEUE_JOB_WHEELS
        fi || { rm -rf "$wheels"; die "downloading $QUEUE_JOB_WHEELS failed (see above)."; }
        rm -rf "$dir" && mkdir -p "$dir"
        "$PY" - "$dir" "$wheels"/*.whl <<'PY' || { rm -rf "$wheels"; die "unpacking queue_job failed."; }
import sys, zipfile
target, wheels = sys.argv[1], sys.argv[2:]
for wheel in wheels:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("odoo/addons/"):
                archive.extract(name, target + "/.unpack")
PY
        mv "$dir/.unpack/odoo/addons/"* "$dir/" && rm -rf "$dir/.unpack" "$wheels"
        printf '%s' "$want" >"$stamp"
    fi
    ADDONS_PATH="$ADDONS_PATH,$dir"
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# -- PostgreSQL --------------------------------------------------------------------------------------------

# Runs a PostgreSQL binary; as root it runs as the postgres user, since PostgreSQL refuses to run as root.
pg_run() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

find_pg_bin() {
    local dir
    for dir in "${PG_BIN:-}" "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            PG_BIN=$dir
            return 0
        fi
    done
    die "PostgreSQL server binaries (initdb, pg_ctl) were not found: install PostgreSQL (12+), set PG_BIN to their
folder, or point the standard PGHOST/PGPORT/PGUSER/PGPASSWORD variables at a running server."
}

# Sets DB_HOST DB_PORT DB_USER DB_PASSWORD. Uses the server named by PG* variables when PGHOST is set,
# otherwise starts a cluster in $1 (created if missing) on a free loopback port.
pg_start() {
    local datadir=$1
    if [ -n "${PGHOST:-}" ]; then
        DB_HOST=$PGHOST DB_PORT=${PGPORT:-5432} DB_USER=${PGUSER:-$(id -un)} DB_PASSWORD=${PGPASSWORD:-}
        PG_STARTED=
        return 0
    fi
    find_pg_bin
    mkdir -p "$datadir"
    [ "$(id -u)" = 0 ] && chown postgres "$datadir" && chmod 700 "$datadir"
    if [ ! -f "$datadir/PG_VERSION" ]; then
        # Odoo refuses to connect as "postgres", so the cluster's superuser is "odoo"; trust on loopback only.
        pg_run "$PG_BIN/initdb" -D "$datadir" -U odoo --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null ||
            die "initdb failed in $datadir"
    fi
    DB_HOST=127.0.0.1 DB_PORT=$(free_port) DB_USER=odoo DB_PASSWORD=
    pg_run "$PG_BIN/pg_ctl" -D "$datadir" -w -t 60 -l "$datadir/server.log" start \
        -o "-p $DB_PORT -c listen_addresses=127.0.0.1 -k $datadir -c max_connections=64 $PG_EXTRA_OPTS" >/dev/null ||
        { cat "$datadir/server.log" >&2; die "PostgreSQL did not start (log above)"; }
    PG_STARTED=$datadir
}

pg_stop() {
    if [ -n "${PG_STARTED:-}" ]; then
        pg_run "$PG_BIN/pg_ctl" -D "$PG_STARTED" -m fast -w stop >/dev/null 2>&1 || true
        PG_STARTED=
    fi
}

write_odoo_conf() {
    local conf=$1 db=$2
    cat >"$conf" <<EOF
[options]
db_host = $DB_HOST
db_port = $DB_PORT
db_user = $DB_USER
db_password = ${DB_PASSWORD:-False}
db_name = $db
addons_path = $ADDONS_PATH
data_dir = $3
EOF
}
