from django.test import TestCase
from rest_framework.test import APIClient


class Client(APIClient):
    """An API client whose requests run on-commit callbacks, as a committed request would."""

    def generic(self, *args, **kwargs):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().generic(*args, **kwargs)
