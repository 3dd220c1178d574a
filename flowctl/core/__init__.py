"""The pure model of flowctl: DAGs, operators, states, rules, timetables.

Nothing under ``flowctl.core`` does I/O or imports sqlalchemy, flask, click or
subprocess; ``tests/test_layers.py`` enforces that.
"""
