# Switchboard: one image for every service.
#
#   docker build -t switchboard .
#   docker run --rm -p 8080:8080 switchboard gateway     # runs `python -m services.gateway`
#   docker run --rm switchboard router                   # any of: channels router scheduler campaigns crm gateway
#   docker run --rm switchboard switchboard --help       # anything else is exec'd as a command (CLI, debugging)
#
# Kubernetes passes the service name as the container `args` (see deploy/k8s/).

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# builder: resolve the pinned dependencies and the project into a self-contained venv
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Compilers only for the rare dependency without a wheel; this stage is thrown away.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first (exact pins) so this layer is cached until the lock file changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# Then the project itself (packages `libs` and `services`), without touching the pinned deps.
COPY pyproject.toml README.md* ./
COPY libs ./libs
COPY services ./services
RUN pip install --no-cache-dir --no-deps .

# ---------------------------------------------------------------------------------------------
# runtime: slim base + the venv, non-root, read-only friendly (only /tmp needs to be writable)
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SB_ENV=production

RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin switchboard

COPY --from=builder /opt/venv /opt/venv

# Root-owned and empty: nothing on sys.path that the service user could write.
WORKDIR /app
USER 10001:10001

# gateway 8080, channels 8081 (public webhooks) + 8086 (admin API) + SMTP 2525, router 8082, scheduler 8083,
# campaigns 8084, crm 8085
EXPOSE 8080 8081 8082 8083 8084 8085 8086 2525

# The first argument picks the service; `exec` makes Python PID 1 so it gets SIGTERM directly.
ENTRYPOINT ["/bin/sh", "-c", \
    "case \"$1\" in channels|router|scheduler|campaigns|crm|gateway) svc=$1; shift; exec python -m \"services.$svc\" \"$@\";; '') echo 'usage: IMAGE {channels|router|scheduler|campaigns|crm|gateway} [args...]' >&2; exit 64;; *) exec \"$@\";; esac", \
    "switchboard-entrypoint"]
