from django.shortcuts import render


def home(request):
    return render(request, "catalog/home.html")


def countries(request):
    return render(request, "catalog/home.html")
