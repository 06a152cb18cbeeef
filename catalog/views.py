from django.shortcuts import get_object_or_404, render

from catalog.models import Person, Title


def home(request):
    titles = Title.objects.order_by("-num_votes")[:24]
    return render(request, "catalog/home.html", {"titles": titles})


def title_list(request):
    titles = Title.objects.order_by("-num_votes")[:50]
    return render(request, "catalog/home.html", {"titles": titles})


def title_detail(request, tconst):
    title = get_object_or_404(Title, tconst=tconst)
    return render(request, "catalog/home.html", {"titles": [title]})


def person_detail(request, nconst):
    person = get_object_or_404(Person, nconst=nconst)
    return render(request, "catalog/home.html", {"titles": [], "person": person})


def search(request):
    return render(request, "catalog/home.html", {"titles": []})
