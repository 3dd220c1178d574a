"""The triggerer: runs deferred tasks' triggers in one asyncio loop and resumes the tasks when they fire.

``loop.py`` (the asyncio loop, in a thread of its own) and ``job.py`` (the job: takes triggers
from the database, starts and cancels them, writes what they yield). ``flowctl triggerer`` wires them.
User trigger code runs here, never in the scheduler.
Must not import flask, click, SQLAlchemy, web, cli or scheduler.
"""
