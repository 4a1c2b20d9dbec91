from django.contrib import admin

from apps.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Operators see and revoke tokens; new ones are made by their users (page or API)."""

    list_display = ["user", "name", "token_key", "created", "last_used", "expiry"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name", "token_key"]
    list_filter = ["created", "expiry"]
    readonly_fields = ["user", "name", "token_key", "created", "last_used", "expiry"]
    exclude = ["digest"]

    def has_add_permission(self, request) -> bool:
        return False
