"""Sign-up, profile and account-deletion forms. Passwords go through django.contrib.auth only."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from accounts.models import User
from catalog.models import BROWSE_GENRES


class SignupForm(UserCreationForm):
    """Username, email and a password checked by ``AUTH_PASSWORD_VALIDATORS``."""

    email = forms.EmailField(
        required=True, help_text="For resetting your password. Never shown to anyone.", max_length=254
    )

    class Meta:
        model = User
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["email"].widget.attrs.update({"autocomplete": "email"})

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this email address already exists. Log in or reset your password.")
        return email


class ProfileForm(forms.ModelForm):
    favourite_genres = forms.MultipleChoiceField(
        choices=[(genre, genre) for genre in BROWSE_GENRES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Used for your first recommendations, before you have rated enough titles.",
    )

    class Meta:
        model = User
        fields = ("email", "favourite_genres")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError("Another account already uses this email address.")
        return email


class AccountDeleteForm(forms.Form):
    """Confirm with the current password (checked by django.contrib.auth) and a tick."""

    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(
        label="I understand that my account, ratings, watchlist and recommendations are deleted for good."
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError("That is not your password.")
        return password
