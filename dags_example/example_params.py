"""Params with a trigger form: typed, validated inputs for a manual run."""
from __future__ import annotations

from datetime import datetime

from flowctl import DAG
from flowctl.models.param import Param
from flowctl.operators.bash import BashOperator
from flowctl.operators.python import PythonOperator


def greet(params) -> str:
    line = ", ".join([f"Hello {params['name']}"] * params["times"])
    print(line)
    return line


with DAG(
    dag_id="example_params",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "params"],
    params={
        "name": Param("World", type="string", minLength=1, description="Who to greet."),
        "times": Param(2, type="integer", minimum=1, maximum=5, description="How many greetings."),
        "mood": Param("happy", enum=["happy", "calm", "grumpy"], description="Tone of the greeting."),
    },
) as dag:
    hello = PythonOperator(task_id="greet", python_callable=greet)
    echo = BashOperator(task_id="echo_mood", bash_command="echo 'mood: {{ params.mood }}'")
    hello >> echo
