from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    # LayoodStorage (primary API)
    path("api/storage-plans", views.PlanListView.as_view(), name="plans"),
    path("api/create-order", views.OrderCreateView.as_view(), name="create-order"),
    path("api/verify-payment", views.VerifyPaymentView.as_view(), name="verify-payment"),
    path("api/payments/history", views.PaymentHistoryView.as_view(), name="payment-history"),
    path("api/subscription/status", views.SubscriptionStatusView.as_view(), name="subscription-status"),
    path("api/razorpay/webhook", views.RazorpayWebhookView.as_view(), name="razorpay-webhook"),
    path("api/admin/plans/create", views.PlanCreateView.as_view(), name="admin-plan-create"),
]
