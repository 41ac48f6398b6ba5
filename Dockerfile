# syntax=docker/dockerfile:1
# The one image of the cloud platform; the role is the command (docs/deployment.md):
#   docker run IMAGE web | hub | worker | scheduler | migrate | cleangate <any cleangate command>
# Build: docker build -t cleangate:$(git rev-parse --short HEAD) .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: wheels of the project and every dependency (binary wheels: no compiler needed) ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY saas ./saas
COPY tenants ./tenants
COPY billing ./billing
COPY miniprogram_api ./miniprogram_api
COPY edge_bridge ./edge_bridge
COPY cleangate_demo ./cleangate_demo
RUN python -m pip wheel --wheel-dir /wheels '.[cloud]'

# --- run: the wheels installed, then pip itself removed; no build tools, not root ---
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLEANGATE_ENV=production \
    CLEANGATE_VAR_DIR=/tmp/cleangate
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links /wheels 'cleangate[cloud]' \
    && python -m pip uninstall -y pip setuptools wheel \
    && groupadd --system --gid 10001 cleangate \
    && useradd --system --uid 10001 --gid cleangate --no-create-home \
       --shell /usr/sbin/nologin cleangate
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/cleangate-entrypoint
USER 10001:10001
EXPOSE 8000 8765
ENTRYPOINT ["cleangate-entrypoint"]
CMD ["web"]
