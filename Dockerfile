# cs-sync in a slim image that runs as a non-root user.
#   docker build -t cs-sync .
#   docker run --rm -v "$PWD/config:/config:ro" -v cs-sync-state:/var/lib/cs-sync \
#     -e CS_SYNC_SF_PASSWORD -e CS_SYNC_SF_TOKEN cs-sync run --config /config/config.toml
# The default command is the scheduled worker; override it with `run`, `plan`, `backfill`...
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY cs_sync ./cs_sync
COPY connectors ./connectors
COPY rules ./rules
RUN python -m venv /opt/cs-sync \
    && /opt/cs-sync/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/cs-sync/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 cs-sync \
    && useradd --system --uid 10001 --gid cs-sync --home-dir /var/lib/cs-sync cs-sync \
    && mkdir -p /var/lib/cs-sync /config \
    && chown cs-sync:cs-sync /var/lib/cs-sync
COPY --from=build /opt/cs-sync /opt/cs-sync
ENV PATH="/opt/cs-sync/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TZ=Asia/Tokyo
USER 10001:10001
WORKDIR /var/lib/cs-sync
# History, lock and status files live here; mount a volume to keep them between runs.
VOLUME ["/var/lib/cs-sync"]
ENTRYPOINT ["cs-sync"]
CMD ["worker", "--config", "/config/config.toml"]
