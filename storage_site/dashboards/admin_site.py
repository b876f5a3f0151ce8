"""The operators' admin site: Django's admin plus /admin/dashboard/ (charts of storage
growth, uploads per day and file types, drawn as inline SVG), linked from the index."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path


class OperatorsAdminSite(admin.AdminSite):
    site_header = "Stratus operators"
    site_title = "Stratus admin"
    index_title = "Operations"
    index_template = "admin/stratus_index.html"

    def get_urls(self):
        return [path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard")] + super().get_urls()

    def dashboard_view(self, request):
        from . import charts, health, selectors

        days = _days(request.GET.get("days"))
        growth = selectors.growth(days=days)
        categories = selectors.by_category()
        context = {
            **self.each_context(request),
            "title": "Dashboard",
            "days": days,
            "day_choices": [7, 30, 90, 365],
            "users": selectors.user_totals(),
            "nodes": selectors.node_totals(),
            "storage": selectors.storage_totals(),
            "uploads": selectors.uploads_open(),
            "top_users": selectors.users_top(10),
            "health": health.system_health(),
            "categories": categories,
            "growth_chart": charts.line_chart(
                [(row["date"].isoformat(), row["totalStoredBytes"]) for row in growth],
                label=f"Stored bytes, last {days} days"),
            "uploads_chart": charts.bar_chart(
                [(row["date"].isoformat(), row["files"]) for row in growth],
                label=f"Uploads (new file versions) per day, last {days} days", unit="count"),
            "upload_bytes_chart": charts.bar_chart(
                [(row["date"].isoformat(), row["bytes"]) for row in growth],
                label=f"Bytes uploaded per day, last {days} days", unit="bytes", color=charts.PALETTE[2]),
            "types_chart": charts.share_bars(
                [(row["category"], row["bytes"]) for row in categories], label="Bytes per file type"),
            "type_counts_chart": charts.share_bars(
                [(row["category"], row["files"]) for row in categories], label="Files per type", unit="count"),
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/stratus_dashboard.html", context)


def _days(raw) -> int:
    try:
        return min(366, max(1, int(raw)))
    except (TypeError, ValueError):
        return 30
