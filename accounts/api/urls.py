"""Every route of the accounts app, grouped by surface."""

from django.urls import path

from . import fileago, streamvault, views

app_name = "accounts"

primary = [
    path("api/login", views.OtpRequestView.as_view(), name="login"),
    path("api/verify-otp", views.OtpVerifyView.as_view(), name="verify-otp"),
    path("api/resend-otp", views.OtpResendView.as_view(), name="resend-otp"),
    path("api/token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("api/session/check", views.SessionCheckView.as_view(), name="session-check"),
    path("api/session/extend", views.SessionExtendView.as_view(), name="session-extend"),
    path("api/logout", views.LogoutView.as_view(), name="logout"),
    path("api/app-passwords", views.AppPasswordListView.as_view(), name="app-passwords"),
    path("api/app-passwords/<str:app_password_id>", views.AppPasswordDetailView.as_view(), name="app-password"),
]

streamvault_routes = [
    path("storage/api/v5/register/", streamvault.RegisterView.as_view(), name="sv-register"),
    path("storage/api/v5/login/", streamvault.LoginView.as_view(), name="sv-login"),
    path("storage/api/v5/token/refresh/", streamvault.RefreshView.as_view(), name="sv-token-refresh"),
    path("storage/api/v5/me/", streamvault.MeView.as_view(), name="sv-me"),
]

fileago_routes = [
    path("auth", fileago.AuthView.as_view(), name="fileago-auth"),
]

urlpatterns = primary + streamvault_routes + fileago_routes
