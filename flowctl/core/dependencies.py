"""The ``>>`` / ``<<`` machinery shared by operators, task groups and XComArgs.

Owns :class:`DependencyMixin` (``set_upstream`` / ``set_downstream`` with single
nodes or lists on either side; ``as_setup`` / ``as_teardown`` and the ``with``
scope of a setup or teardown, whose logic lives in setup_teardown.py) and the
Airflow helpers :func:`chain`, :func:`chain_linear` and :func:`cross_downstream`.
A node exposes two hooks: ``edge_roots()`` (the operators that receive upstream
edges) and ``edge_leaves()`` (the operators that give downstream edges); an
operator is its own root and leaf, a task group uses its roots and leaves, an
XComArg its operator.

Pure: must not import anything outside flowctl.core and the standard library,
and imports no other flowctl module at import time (operators are reached by
duck typing; setup_teardown.py is imported when called).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Relatable = Any  # a DependencyMixin or an iterable of them


class DependencyMixin:
    """Something that can sit on either side of ``>>`` and ``<<``."""

    def edge_roots(self) -> list[Any]:
        """Operators that receive an edge when something is set upstream of this node."""
        raise NotImplementedError

    def edge_leaves(self) -> list[Any]:
        """Operators that give an edge when something is set downstream of this node."""
        raise NotImplementedError

    def set_downstream(self, other: Relatable) -> None:
        """Make every node in ``other`` run after this one."""
        for node in as_nodes(other):
            receive = getattr(node, "receive_upstream", None)
            if receive is not None:  # an edge modifier such as Label
                receive(self)
                continue
            for leaf in self.edge_leaves():
                for root in node.edge_roots():
                    leaf.link_downstream(root)

    def set_upstream(self, other: Relatable) -> None:
        """Make this node run after every node in ``other``."""
        for node in as_nodes(other):
            node.set_downstream(self)

    def __rshift__(self, other: Relatable) -> Relatable:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Relatable) -> Relatable:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Relatable) -> DependencyMixin:
        # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Relatable) -> DependencyMixin:
        # [a, b] << self
        self.set_downstream(other)
        return self

    def as_setup(self) -> Any:
        """Mark this task as a setup task (Airflow 2.7); returns this node."""
        from flowctl.core.setup_teardown import mark_setup

        return mark_setup(self)

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> Any:
        """Mark this task as a teardown of ``setups`` (made setups, and upstream of it); returns this node."""
        from flowctl.core.setup_teardown import mark_teardown

        return mark_teardown(self, setups, on_failure_fail_dagrun)

    def __enter__(self) -> Any:
        # ``with teardown.as_teardown(setups=s):`` -- a task group has its own __enter__
        from flowctl.core.setup_teardown import enter_scope

        enter_scope(self)
        return self

    def __exit__(self, *exc: object) -> None:
        from flowctl.core.setup_teardown import exit_scope

        exit_scope(self)


def as_nodes(other: Relatable) -> list[DependencyMixin]:
    """Flatten a node or a (nested) iterable of nodes into a list of nodes."""
    if isinstance(other, DependencyMixin):
        return [other]
    if isinstance(other, (str, bytes)) or not isinstance(other, Iterable):
        raise TypeError(
            f"cannot set a dependency on {other!r}: expected a task, a task group, "
            "an XComArg or a list of them"
        )
    nodes: list[DependencyMixin] = []
    for item in other:
        nodes.extend(as_nodes(item))
    return nodes


def chain(*elements: Relatable) -> None:
    """Set dependencies so that each element runs after the previous one.

    Neighbouring lists must have the same length and are linked pairwise;
    a single node next to a list is linked to every member of the list.
    """
    for up, down in zip(elements, elements[1:]):
        up_is_list = _is_sequence(up)
        down_is_list = _is_sequence(down)
        if up_is_list and down_is_list:
            if len(up) != len(down):
                raise ValueError(
                    f"chain() needs neighbouring lists of equal length, got {len(up)} and {len(down)}"
                )
            for a, b in zip(up, down):
                _as_single(a).set_downstream(b)
        elif up_is_list:
            _as_single(down).set_upstream(up)
        else:
            _as_single(up).set_downstream(down)


def cross_downstream(from_tasks: Sequence[Relatable], to_tasks: Relatable) -> None:
    """Make every task in ``to_tasks`` run after every task in ``from_tasks``."""
    for task in as_nodes(from_tasks):
        task.set_downstream(to_tasks)


def chain_linear(*elements: Relatable) -> None:
    """Airflow 2.7's ``chain_linear``: every task of each element runs before every task of the next.

    An element is a task (task group, XComArg) or a list of them; unlike :func:`chain`,
    neighbouring lists are linked all to all. Edge labels are refused, and so is a call
    that links nothing (one element: a list passed without ``*``?).
    """
    previous: list[DependencyMixin] = []
    linked = False
    for element in elements:
        nodes = as_nodes(element)
        if any(hasattr(node, "receive_upstream") for node in nodes):
            raise ValueError("chain_linear() does not take edge labels; link labelled edges with >>")
        for node in previous:
            node.set_downstream(nodes)
            linked = linked or bool(nodes)
        previous = nodes
    if not linked:
        raise ValueError("chain_linear() linked nothing: pass two or more non-empty elements "
                         "(a list of elements needs *)")


def _is_sequence(value: Any) -> bool:
    return not isinstance(value, DependencyMixin) and isinstance(value, Sequence)


def _as_single(value: Any) -> DependencyMixin:
    if not isinstance(value, DependencyMixin):
        raise TypeError(f"chain() cannot link {value!r}: expected a task, a task group or an XComArg")
    return value
