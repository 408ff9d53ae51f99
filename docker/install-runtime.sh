#!/bin/sh
# The image's install step (Dockerfile), also run by the tests
# (tests/stack/test_runtime_install.py), so what they check is what the image gets.
#
#   docker/install-runtime.sh deps    PYTHON [SOURCE_DIR]
#   docker/install-runtime.sh project PYTHON [SOURCE_DIR]
#
# deps: the pinned runtime dependencies (requirements-runtime.lock), hash-checked, wheels
# only (no compiler needed), nothing resolved beyond the lock. The dev servers, the test
# tools and the bench are extras and never in that lock.
# project: the engine itself without its dependencies, then a check that every dependency
# of what is installed is present.
#
# PYTHON is the interpreter of the target virtualenv; SOURCE_DIR holds pyproject.toml and
# the lock (default: the current directory).
set -eu
step="$1"
python="$2"
src="${3:-.}"
case "$step" in
    deps)
        "$python" -m pip install --no-deps --require-hashes --only-binary=:all: \
            -r "$src/requirements-runtime.lock"
        ;;
    project)
        "$python" -m pip install --no-deps "$src"
        "$python" -m pip check
        ;;
    *)
        echo "usage: $0 deps|project PYTHON [SOURCE_DIR]" >&2
        exit 2
        ;;
esac
