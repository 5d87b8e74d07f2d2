"""Configuration documents (tenant, channel, agent, CRM) are edited by hand in the Firestore console, so they are
read strictly: an unknown field (a typo such as `mdoe`) or a bad value is refused with the field and the document
path, instead of being ignored or failing later in the middle of a turn."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.domain.errors import InvalidConfiguration


class ConfigDocument(BaseModel):
    """Base of every model read from an admin-edited document: unknown fields are errors, not silence."""

    model_config = ConfigDict(extra="forbid")


Model = TypeVar("Model", bound=BaseModel)


def config_problems(err: ValidationError, limit: int = 5) -> list[str]:
    """`field.path: what is wrong` for each problem; never the value (a credential may be the value)."""
    problems = []
    for issue in err.errors(include_url=False, include_input=False, include_context=False)[:limit]:
        where = ".".join(str(part) for part in issue["loc"]) or "(document)"
        problems.append(f"{where}: {issue['msg']}")
    return problems


def parse_config(model: type[Model], data: dict[str, Any] | None, path: str) -> Model:
    """Validate one configuration document; InvalidConfiguration names the document path and each bad field."""
    try:
        return model.model_validate(data or {})
    except ValidationError as err:
        raise InvalidConfiguration(path, config_problems(err), alert_phone=_readable_seller(data or {})) from None


def _readable_seller(data: dict[str, Any]) -> str | None:
    """Whom to tell about an invalid agent: its seller_phone, else the first seller listed, if readable."""
    candidates = [data.get("seller_phone")]
    sellers = data.get("sellers")
    if isinstance(sellers, list):
        candidates += [s.get("phone") for s in sellers if isinstance(s, dict)]
    return next((c for c in candidates if isinstance(c, str) and c.strip()), None)
