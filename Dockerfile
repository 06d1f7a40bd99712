# mockserver in a container: the bundled specs and fixtures at /app/specs and /app/fixtures,
# served on port 4010 by a non-root user. README.md, "Container image": the MOCKSERVER_*
# variables, mounting your own specs, use in CI. `.ci/container` builds and runs this file.

# Stage 1: the package as a wheel (the bundled specs and fixtures are its package data).
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockserver/ mockserver/
COPY specs/ specs/
COPY fixtures/ fixtures/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: the image.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The dependencies alone, read from pyproject.toml: this layer is rebuilt only when
# pyproject.toml changes, not on every change to the source.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; deps = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/pyproject.toml /tmp/requirements.txt

# Then the package itself, with no dependency left to fetch.
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -r /wheels

# The specs and fixtures it serves; mount your own over these two folders.
COPY specs/ /app/specs/
COPY fixtures/ /app/fixtures/

# Every `serve` option is a MOCKSERVER_* variable (a flag on the command line wins).
# HOME: the user has no home of its own; gunicorn (>= 25.1) puts its control socket there.
ENV HOME=/tmp \
    MOCKSERVER_HOST=0.0.0.0 \
    MOCKSERVER_SPECS=/app/specs \
    MOCKSERVER_FIXTURES=/app/fixtures

# Numeric, so that `runAsNonRoot` and similar checks can see it is not root.
USER 10001:10001
EXPOSE 4010

# Python's urllib, not curl (the image has none); it follows MOCKSERVER_PORT.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/__mock/health' % (os.environ.get('MOCKSERVER_PORT') or '4010'), timeout=2)"]

# Exec form: gunicorn's master is PID 1, so `docker stop` (SIGTERM) reaches it directly; it
# finishes requests in flight, stops its workers, reaps them and exits 0. No init needed.
# The host comes from MOCKSERVER_HOST above, not --host, so that it can still be changed.
CMD ["mockserver", "serve"]
