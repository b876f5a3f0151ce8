from django.urls import re_path

from . import views

app_name = "dav"

urlpatterns = [
    re_path(r"^dav(?:/.*)?$", views.dav, name="dav"),
]
