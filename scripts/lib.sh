# Shared set-up steps of scripts/demo and scripts/test. Sourced, not run.

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

python_bin() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$candidate"; return
    fi
  done
  echo "DSAR Desk needs Python 3.11 or newer" >&2; exit 1
}

# Debian packages: WeasyPrint's Pango, fonts, gettext; for tests also Chromium, Redis, PostgreSQL.
install_system_packages() {
  local wanted=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core gettext python3-venv)
  if [ "${1:-test}" = test ]; then
    # docker-compose and nginx: the deployment tests check the compose file and run the proxy.
    wanted+=(chromium redis-server postgresql poppler-utils docker-compose nginx openssl)
  fi
  local missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Please install these Debian packages (as root): ${missing[*]}" >&2
  fi
}

ensure_venv() {
  local extras="${1:-}"
  if [ ! -x .venv/bin/python ]; then
    step "creating the virtual environment"
    "$(python_bin)" -m venv .venv
  fi
  local stamp=".venv/.installed-${extras:-base}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    step "installing Python packages"
    .venv/bin/pip install -q --upgrade pip >/dev/null
    if [ -n "$extras" ]; then .venv/bin/pip install -q -e ".[$extras]"; else .venv/bin/pip install -q -e .; fi
    touch "$stamp"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_redis() {
  local port="${DSAR_REDIS_PORT:-6379}"
  port_open "$port" && return
  step "starting Redis on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/dsar-redis.log
  for _ in $(seq 50); do port_open "$port" && return; sleep 0.1; done
  echo "Redis did not start" >&2; exit 1
}

ensure_postgres() {
  local port="${PGPORT:-5432}"
  port_open "$port" && return
  step "starting PostgreSQL on 127.0.0.1:$port"
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ] && [ "$(id -u)" = 0 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    # The tests connect as postgres without a password over TCP, as on the CI machine.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q "dsar-desk-tests" "$hba"; then
      sed -i '1i host all postgres 127.0.0.1/32 trust # dsar-desk-tests' "$hba"
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    fi
  else
    echo "No PostgreSQL answers on 127.0.0.1:$port and none can be started here." >&2; exit 1
  fi
  for _ in $(seq 100); do port_open "$port" && break; sleep 0.1; done
  su postgres -c "psql -p $port -tc \"select 1 from pg_database where datname='test'\"" | grep -q 1 ||
    su postgres -c "createdb -p $port test"
}
