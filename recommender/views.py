from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def recommendations(request):
    return render(request, "recommender/recommendations.html", {})
