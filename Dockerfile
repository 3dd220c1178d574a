# flowctl in a container: scheduler (and web server, once it ships) on the DAGs in /opt/flowctl/dags.
FROM python:3.11-slim
ENV FLOWCTL_HOME=/opt/flowctl \
    FLOWCTL__CORE__DAGS_FOLDER=/opt/flowctl/dags \
    FLOWCTL_MIGRATIONS=/src/migrations \
    PYTHONUNBUFFERED=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY flowctl ./flowctl
COPY migrations ./migrations
RUN pip install --no-cache-dir '.[postgres,celery]' && useradd --create-home flowctl \
    && mkdir -p /opt/flowctl/dags && chown -R flowctl /opt/flowctl
COPY --chown=flowctl dags_example /opt/flowctl/dags
USER flowctl
CMD ["flowctl", "standalone"]
