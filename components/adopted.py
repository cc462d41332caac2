"""Resource options of a component's children, adopted or not.

A child with an import id (`components/config/adoption.py`) exists already: it gets the
`import` resource option where the option can carry the id, and `retain_on_delete`: the stack
never deletes what it did not create. A rename without an alias, a removal from the program or
an import id changed later would make the engine delete the resource it knows; retained, it is
only forgotten, and stays as it is in the cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.config.adoption import ImportId


class Adoption:
    """The adopted children of one component, by role (the child's name after the
    component's). Roles a component does not know are refused: a typo would silently create
    a second copy of a resource that exists."""

    def __init__(
        self, parent: pulumi.Resource, imports: Mapping[str, ImportId], roles: set[str]
    ) -> None:
        unknown = sorted(r for r in imports if r not in roles and not r.startswith("mount-"))
        if unknown:
            raise ValueError(f"no child with the roles {unknown} to adopt; known: {sorted(roles)}")
        self.parent = parent
        self.imports = dict(imports)

    def get(self, role: str) -> ImportId | None:
        return self.imports.get(role)

    def opts(self, role: str, **options: Any) -> pulumi.ResourceOptions:
        """`parent=` the component plus `options`; for an adopted child also its import id
        (where carried) and `retain_on_delete`."""
        adopted = self.imports.get(role)
        if adopted is None:
            return pulumi.ResourceOptions(parent=self.parent, **options)
        return pulumi.ResourceOptions(
            parent=self.parent,
            import_=adopted.id if adopted.carried else None,
            retain_on_delete=True,
            **options,
        )
