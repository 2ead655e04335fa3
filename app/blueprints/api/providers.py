"""Providers: where the workspace's email is handed off."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import page_slice, provider_json
from app.blueprints.helpers import commit
from app.services.delivery import providers

TAG = "Providers"


@operation("POST", "/providers", "Add a provider", tag=TAG, body="ProviderCreate", response="Provider", status=201)
def create_provider(body: dict):
    """Credentials are stored encrypted and never returned; `is_default` makes it the workspace's default."""
    provider = providers.create_provider(
        workspace_id(),
        body["name"],
        body["provider_type"],
        body.get("settings"),
        body.get("credentials"),
        is_default=body.get("is_default", False),
        max_sends_per_second=body.get("max_sends_per_second"),
        max_sends_per_day=body.get("max_sends_per_day"),
        priority=body.get("priority", 100),
        sandbox_mode=body.get("sandbox_mode", False),
        provider_tracking=body.get("provider_tracking", False),
    )
    commit()
    return provider_json(provider)


@operation("PUT", "/providers/{provider_id}", "Change a provider", tag=TAG, body="ProviderUpdate", response="Provider")
def update_provider(provider_id: int, body: dict):
    """Settings, limits and flags are replaced; a credential left out (or empty) keeps its stored value."""
    provider = providers.update_provider(
        workspace_id(),
        provider_id,
        body["name"],
        body["settings"],
        body.get("credentials"),
        max_sends_per_second=body.get("max_sends_per_second"),
        max_sends_per_day=body.get("max_sends_per_day"),
        priority=body.get("priority"),
        sandbox_mode=body.get("sandbox_mode"),
        provider_tracking=body.get("provider_tracking"),
    )
    commit()
    return provider_json(provider)


@operation("GET", "/providers", "List providers", tag=TAG, response="Provider", paginated=True)
def list_providers(query: dict):
    """The default provider first; a new workspace has its development outbox."""
    rows = providers.list_providers(workspace_id())
    return page_slice([provider_json(p) for p in rows], query)


@operation("GET", "/providers/{provider_id}", "Show a provider", tag=TAG, response="Provider")
def show_provider(provider_id: int):
    """One provider, with whether credentials are stored (never their values)."""
    return provider_json(providers.get_provider(workspace_id(), provider_id))


@operation("POST", "/providers/{provider_id}/test", "Test a provider's connection", tag=TAG, response="ProviderCheck")
def check_provider(provider_id: int):
    """Connect and authenticate for real; the outcome is recorded on the provider and answered."""
    provider = providers.test_provider(workspace_id(), provider_id)
    commit()
    return {"ok": provider.last_check_status == "ok", "error": provider.last_error, "provider": provider_json(provider)}
