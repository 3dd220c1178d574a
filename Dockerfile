# flowctl in a container: `flowctl standalone` (scheduler and web UI on port 8080) on the DAGs in /opt/flowctl/dags.
# Python 3.12+: the local executor's worker parent makes its warm objects immortal, so each forked
# try copies a third fewer memory pages (flowctl/task_runner/immortal.py).
FROM python:3.12-slim
ENV FLOWCTL_HOME=/opt/flowctl \
    FLOWCTL__CORE__DAGS_FOLDER=/opt/flowctl/dags \
    FLOWCTL_MIGRATIONS=/src/migrations \
    FLOWCTL__WEBSERVER__HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY flowctl ./flowctl
COPY migrations ./migrations
RUN pip install --no-cache-dir '.[postgres,celery]' && useradd --create-home flowctl \
    && mkdir -p /opt/flowctl/dags && chown -R flowctl /opt/flowctl
COPY --chown=flowctl dags_example /opt/flowctl/dags
USER flowctl
# The web UI listens on all of the container's addresses (the default, 127.0.0.1, would be
# unreachable through a published port).
EXPOSE 8080
CMD ["flowctl", "standalone"]
