"""Billing errors, with the codes LayoodStorage clients expect for payments."""

from storage_site.core.exceptions import ApplicationError


class InvalidPaymentRequest(ApplicationError):
    status_code = 400
    code = "INVALID_PAYMENT_REQUEST"
    message = "Invalid payment request."


class PaymentVerificationFailed(ApplicationError):
    status_code = 400
    code = "PAYMENT_VERIFICATION_FAILED"
    message = "Payment verification failed."


class PaymentServiceUnavailable(ApplicationError):
    status_code = 503
    code = "PAYMENT_SERVICE_UNAVAILABLE"
    message = "The payment service is unavailable. Try again later."


class PlanNotFound(ApplicationError):
    status_code = 404
    code = "PLAN_NOT_FOUND"
    message = "Plan not found."


class OrderNotFound(ApplicationError):
    status_code = 404
    code = "ORDER_NOT_FOUND"
    message = "Order not found."


class PlanExists(ApplicationError):
    status_code = 409
    code = "PLAN_EXISTS"
    message = "A plan with this code already exists."
