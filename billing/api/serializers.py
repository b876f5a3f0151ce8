from rest_framework import serializers

from storage_site.core.fields import IntegerField

from ..models import Currency, Interval, Payment, Plan, Subscription


class PlanSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    storageQuota = serializers.IntegerField(source="storage_quota", help_text="Bytes.")
    deviceLimit = serializers.IntegerField(source="device_limit", allow_null=True, help_text="null = no limit.")
    price = serializers.IntegerField(help_text="Per interval, in paise (₹1 = 100).")
    isActive = serializers.BooleanField(source="is_active")
    sortOrder = serializers.IntegerField(source="sort_order")

    class Meta:
        model = Plan
        fields = ["id", "code", "name", "description", "storageQuota", "deviceLimit", "price", "currency",
                  "interval", "isActive", "sortOrder"]


class PlanListItemSerializer(PlanSerializer):
    current = serializers.SerializerMethodField(help_text="The caller's plan (false when not signed in).")

    class Meta(PlanSerializer.Meta):
        fields = PlanSerializer.Meta.fields + ["current"]

    def get_current(self, plan) -> bool:
        return plan.code == self.context.get("current_plan")


class PlanCreateSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=40, help_text="Lowercase letters, digits, `-` and `_`; unique.")
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    storageQuota = IntegerField(min_value=1, max_value=2**62, help_text="Bytes.")
    deviceLimit = IntegerField(min_value=1, max_value=100_000, allow_null=True, required=False,
                                           default=None, help_text="null or absent = no limit.")
    price = IntegerField(min_value=0, max_value=10**12,
                                     help_text="Paise per interval; 0 = free, else at least 100.")
    currency = serializers.ChoiceField(Currency.choices, default=Currency.INR)
    interval = serializers.ChoiceField(Interval.choices, default=Interval.MONTHLY)
    isActive = serializers.BooleanField(default=True)
    sortOrder = IntegerField(default=0, min_value=-10**6, max_value=10**6)

    def validate_code(self, value):
        return value.lower()


class OrderCreateSerializer(serializers.Serializer):
    plan = serializers.CharField(max_length=64, required=False, help_text="Plan code (e.g. `pro`) or plan id.")
    planId = serializers.CharField(max_length=64, required=False, help_text="The same as `plan`.")

    def validate(self, attrs):
        ref = attrs.get("plan") or attrs.get("planId")
        if not ref:
            raise serializers.ValidationError("Give the plan: `plan` (code) or `planId`.")
        return {"plan_ref": ref}


class CheckoutSerializer(serializers.Serializer):
    """Razorpay Checkout's own option names, so a client can pass them straight on."""

    order_id = serializers.CharField()
    amount = serializers.IntegerField(help_text="Paise, from the plan.")
    currency = serializers.CharField()
    key_id = serializers.CharField(help_text="Checkout's `key`; `offline` when the server has no Razorpay keys.")
    gateway = serializers.ChoiceField(["razorpay", "offline"])
    receipt = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    prefill = serializers.DictField(child=serializers.CharField())
    plan = PlanSerializer()


class VerifySerializer(serializers.Serializer):
    razorpay_order_id = serializers.CharField(max_length=64)
    razorpay_payment_id = serializers.CharField(max_length=64)
    razorpay_signature = serializers.CharField(max_length=256)


class PaymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    orderId = serializers.CharField(source="order_id")
    paymentId = serializers.CharField(source="payment_id", allow_null=True)
    plan = serializers.SerializerMethodField()
    # Plain strings: a `status` enum here would collide with other apps' `status` enums in the schema.
    status = serializers.CharField(help_text="created, paid, failed or refunded.")
    refundedAmount = serializers.IntegerField(source="refunded_amount")
    errorCode = serializers.CharField(source="error_code")
    errorDescription = serializers.CharField(source="error_description")
    createdAt = serializers.DateTimeField(source="created_at")
    paidAt = serializers.DateTimeField(source="paid_at", allow_null=True)

    class Meta:
        model = Payment
        fields = ["id", "orderId", "paymentId", "plan", "amount", "currency", "status", "gateway", "receipt",
                  "refundedAmount", "errorCode", "errorDescription", "createdAt", "paidAt"]

    def get_plan(self, payment) -> dict:
        return {"code": payment.plan.code, "name": payment.plan.name}


class SubscriptionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    plan = serializers.SlugRelatedField(slug_field="code", read_only=True)
    status = serializers.CharField(help_text="active, past_due, cancelled or expired.")
    currentPeriodStart = serializers.DateTimeField(source="current_period_start")
    currentPeriodEnd = serializers.DateTimeField(source="current_period_end")
    endedAt = serializers.DateTimeField(source="ended_at", allow_null=True)

    class Meta:
        model = Subscription
        fields = ["id", "plan", "status", "currentPeriodStart", "currentPeriodEnd", "endedAt"]


class StatusSerializer(serializers.Serializer):
    """Built from selectors.subscription_status."""

    plan = PlanSerializer(help_text="The plan whose limits apply now (Free when nothing is paid for).")
    status = serializers.CharField(allow_null=True, help_text="active, past_due, cancelled, expired; "
                                                              "null when the user never subscribed.")
    currentPeriodStart = serializers.DateTimeField(allow_null=True)
    currentPeriodEnd = serializers.DateTimeField(allow_null=True)
    subscription = SubscriptionSerializer(allow_null=True, help_text="The last subscription, also when it ended.")
    quota = serializers.IntegerField(help_text="Effective quota in bytes (an admin's override wins).")
    planQuota = serializers.IntegerField(allow_null=True)
    quotaOverride = serializers.IntegerField(allow_null=True)
    used = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    deviceLimit = serializers.IntegerField(allow_null=True, help_text="null = no limit.")

    def to_representation(self, state):
        sub = state["subscription"]
        return {
            "plan": PlanSerializer(state["plan"]).data if state["plan"] else None,
            "status": sub.status if sub else None,
            "currentPeriodStart": serializers.DateTimeField().to_representation(sub.current_period_start) if sub else None,
            "currentPeriodEnd": serializers.DateTimeField().to_representation(sub.current_period_end) if sub else None,
            "subscription": SubscriptionSerializer(sub).data if sub else None,
            "quota": state["storage_quota"],
            "planQuota": state["plan_storage_quota"],
            "quotaOverride": state["storage_quota_override"],
            "used": state["storage_used"],
            "reserved": state["storage_reserved"],
            "available": max(0, state["storage_quota"] - state["storage_used"] - state["storage_reserved"]),
            "deviceLimit": state["device_limit"],
        }
