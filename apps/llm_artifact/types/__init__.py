"""The registry of artifact types: one module a type, found here by itself.

An artifact's `artifact_type` names an entry of this registry. Views, the API, the admin,
bundles and the agent ask the entry (`types.of(artifact)`, `types.get(name)`) what to do,
instead of branching on the name.

Adding a type (say "notebook") is one new module plus its templates and tests:

1. `apps/llm_artifact/types/notebook.py` defines a subclass of `ArtifactTypeSpec` and ends
   with `TYPE = register(NotebookType())`. Every module of this package that defines `TYPE`
   is imported when the registry first loads (helper modules without `TYPE` are skipped).
2. Its content: either the SQL fields (`uses_sql = True`: `sql_query`, `query_params`,
   `visualization_config`, `template_slots`, SQL query's own) or a JSON document in
   `Artifact.document`, checked by `clean(artifact)`, which returns errors by field (the
   model's `clean()` calls it, so the page, API, admin, bundles and agent all use it).
3. Its templates: `page_template` (the artifact page; `page_context()` fills it),
   `card_template` (its card in a chat), `row_template` (a cell of the artifact list,
   under the title) and `admin_template` (a read-only preview in the admin).
4. Bundles: `export_document()` / `import_problems()` (SQL types carry their fields instead).
5. The agent: `agent_tools`, dotted paths of pydantic-ai `Tool`s in `apps.llm_chat` (the
   layer above, named by string as a foreign key up a layer is), added to every turn.
6. What "run" means: `run(artifact, user, raw_params)`.
7. A migration: the database's check constraint `artifact_type_known` lists the registered
   names (`makemigrations` writes it; `makemigrations --check` in the suite catches a
   forgotten one).

models.py builds the `artifact_type` choices and that constraint from the registry while it
is being imported, so a type module imports the models inside its functions, not at the top.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _


class UnknownArtifactType(LookupError):
    pass


class ArtifactTypeSpec:
    """What one artifact type is. Subclasses set the class attributes and override the
    methods that differ from these defaults."""

    # The value stored in Artifact.artifact_type, and what people read for it.
    name: ClassVar[str] = ""
    label: ClassVar[Any] = ""
    # Where the registry lists it (choices, filters): lower first.
    position: ClassVar[int] = 100
    # True: the content is the SQL fields, and the SQL pages (run, workbench, chart, export,
    # the API's execute and chart) serve it. False: the content is Artifact.document.
    uses_sql: ClassVar[bool] = False
    # The model fields this type's content is in, for the API's help and the admin's form.
    content_fields: ClassVar[tuple[str, ...]] = ("document",)
    page_template: ClassVar[str] = ""
    card_template: ClassVar[str] = ""
    row_template: ClassVar[str] = ""
    admin_template: ClassVar[str] = ""
    agent_tools: ClassVar[tuple[str, ...]] = ()

    # --- content --------------------------------------------------------------------------

    def default_document(self) -> dict:
        return {}

    def clean(self, artifact: Any, errors: dict) -> dict[str, list[str]]:
        """What is wrong with the artifact's content, by model field ({} when nothing).
        `errors` are those the model's field checks found already (read, never changed)."""
        return {}

    # --- pages ----------------------------------------------------------------------------

    def page_context(self, request: Any, artifact: Any) -> dict:
        """What `page_template` needs besides `artifact`."""
        return {}

    def admin_context(self, artifact: Any) -> dict:
        """What `admin_template` needs besides `artifact`."""
        return {}

    def card_context(self, request: Any, card: Any) -> dict:
        """What `card_template` needs besides `card` (an apps.llm_artifact.cards.ArtifactCard)."""
        return {}

    # --- bundles --------------------------------------------------------------------------

    def export_document(self, artifact: Any) -> dict:
        """The document as a bundle carries it (references to other artifacts by uid)."""
        return artifact.document

    def import_problems(self, document: Any, bundle_uids: set[str]) -> list[str]:
        """Why the document cannot be imported beyond the model's own checks: e.g. it
        refers to an artifact that is neither on this site nor in the bundle."""
        return []

    # --- running --------------------------------------------------------------------------

    def run(self, artifact: Any, *, user: Any, raw_params: dict) -> Any:
        """Run the artifact as `user` with the given values; what it returns is the type's."""
        raise NotImplementedError(f"An artifact of type {self.name!r} does not run.")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


_REGISTRY: dict[str, ArtifactTypeSpec] = {}
_loaded = False


def register(spec: ArtifactTypeSpec) -> ArtifactTypeSpec:
    """Add a type; its name must be new, at most 32 characters (the field's length)."""
    if not spec.name or len(spec.name) > 32:
        raise ValueError(f"An artifact type needs a name of 1 to 32 characters: {spec!r}.")
    if spec.name in _REGISTRY and type(_REGISTRY[spec.name]) is not type(spec):
        raise ValueError(f"The artifact type {spec.name!r} is registered twice.")
    _REGISTRY[spec.name] = spec
    return spec


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def all_types() -> list[ArtifactTypeSpec]:
    _load()
    return sorted(_REGISTRY.values(), key=lambda spec: (spec.position, spec.name))


def names() -> list[str]:
    return [spec.name for spec in all_types()]


def choices() -> list[tuple[str, Any]]:
    return [(spec.name, spec.label) for spec in all_types()]


def get(name: str) -> ArtifactTypeSpec:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownArtifactType(f"No artifact type {name!r}.") from None


def of(artifact: Any) -> ArtifactTypeSpec:
    """The entry of an artifact's type."""
    return get(artifact.artifact_type)


def sql_names() -> list[str]:
    """The types whose content is SQL (the SQL pages and endpoints serve them)."""
    return [spec.name for spec in all_types() if spec.uses_sql]


DEFAULT = "sql_query"
UNKNOWN_LABEL = _("Unknown type")
