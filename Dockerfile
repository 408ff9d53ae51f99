# syntax=docker/dockerfile:1
#
# Booking engine image. One image, many roles: the subcommand picks the role
#   docker run IMAGE api | worker | migrate | sandbox | token ...
# The default is the HTTP API.

ARG PYTHON_IMAGE=python:3.12-slim

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

# Dependencies first, in their own layer, so code edits don't reinstall them.
# They are read straight from pyproject.toml ([project].dependencies only, so
# the `dev` extra is never installed), at the versions pinned in requirements.lock.
# Every runtime dependency ships manylinux wheels for CPython 3.12, so no
# compiler is needed here.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; \
print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt

# Then the project itself (non-editable, no extras). .dockerignore keeps the
# context small; README.md is needed because pyproject.toml declares it.
COPY . .
# Bytecode is compiled here, once: the workflow sandbox re-imports the workflow
# modules for every new workflow run, and without .pyc files it would compile
# them from source each time (PYTHONDONTWRITEBYTECODE stops Python writing them).
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv \
    && booking-engine --help > /dev/null

# ---------------------------------------------------------------------------
# Stage 2: runtime. Only the virtualenv is carried over; no sources, no pip cache.
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOOKING_ENV=production \
    BOOKING_API_HOST=0.0.0.0 \
    BOOKING_API_PORT=8000 \
    BOOKING_LOG_FORMAT=json

# Fixed, unprivileged uid/gid so volume permissions are predictable.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app \
    && chown app:app /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER app

EXPOSE 8000

# slim has no curl: probe with the standard library. urlopen raises on any
# non-2xx status or connection error, which makes the exit code non-zero.
# Roles that serve no /healthz on this port (worker, migrate) disable or
# override this check in docker-compose.yml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOOKING_API_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["booking-engine"]
CMD ["api"]
