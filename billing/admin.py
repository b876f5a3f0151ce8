from django.contrib import admin, messages

from storage_site.core.exceptions import ApplicationError

from . import services
from .models import Gateway, Payment, PaymentStatus, Plan, Subscription, WebhookEvent


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "storage_quota", "device_limit", "price", "currency", "interval", "is_active",
                    "sort_order"]
    list_filter = ["is_active", "interval", "currency"]
    search_fields = ["code", "name"]
    ordering = ["sort_order", "price"]

    def get_readonly_fields(self, request, obj=None):
        # The code is stored on users and payments: fixed once the plan exists.
        return ["code"] if obj else []


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "plan", "status", "current_period_start", "current_period_end", "ended_at"]
    list_filter = ["status", "plan"]
    search_fields = ["user__username", "user__email", "user__phone", "uuid"]
    list_select_related = ["user", "plan"]
    raw_id_fields = ["user"]
    readonly_fields = ["uuid", "user", "plan", "status", "current_period_start", "current_period_end", "ended_at",
                       "created_at", "updated_at"]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False  # subscriptions come from payments

    @admin.action(description="Cancel now (the user moves to Free; files are kept)")
    def cancel(self, request, queryset):
        done = sum(services.subscription_cancel(subscription=sub) for sub in queryset)
        self.message_user(request, f"Cancelled {done} subscription(s).")


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["order_id", "user", "plan", "amount", "currency", "status", "gateway", "payment_id",
                    "created_at", "paid_at"]
    list_filter = ["status", "gateway", "plan", "currency"]
    search_fields = ["order_id", "payment_id", "receipt", "uuid", "user__username", "user__email", "user__phone"]
    list_select_related = ["user", "plan"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Payment._meta.fields]
    actions = ["mark_paid"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of money stays

    @admin.action(description="Mark offline payment paid (activates the plan)")
    def mark_paid(self, request, queryset):
        done = 0
        for payment in queryset.filter(gateway=Gateway.OFFLINE, status__in=[PaymentStatus.CREATED,
                                                                           PaymentStatus.FAILED]):
            try:
                done += services.payment_mark_paid_offline(order_id=payment.order_id)[3]
            except ApplicationError as exc:
                self.message_user(request, f"{payment.order_id}: {exc.message}", level=messages.ERROR)
        skipped = queryset.count() - done
        self.message_user(request, f"Marked {done} payment(s) paid." +
                          (f" {skipped} skipped (not offline, or already paid or refunded)." if skipped else ""))


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "event", "status", "order_id", "received_at", "processed_at", "error"]
    list_filter = ["status", "event"]
    search_fields = ["event_id", "order_id"]
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
