# One image for every Airflow service and the MLflow server: Airflow's own image plus our pins
# (requirements.txt is a full freeze, apache-airflow included, so pip cannot move Airflow).
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt
COPY --chown=airflow:root ml /opt/valueflow/ml
COPY --chown=airflow:root expectations /opt/valueflow/expectations
COPY --chown=airflow:root config /opt/valueflow/config
# docker-compose.yaml bind-mounts these for development; the image works without the mounts.
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
ENV PYTHONPATH=/opt/valueflow
