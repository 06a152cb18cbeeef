"""Sign-up, profile and account-deletion forms. Passwords go through django.contrib.auth only.

Every form that asks for the member's current password checks it with
``django.contrib.auth.authenticate``: django-axes (the first authentication backend) counts a
wrong one like a failed login and refuses any password, right or wrong, while the member is locked
out. A stolen session cannot guess the password on the delete, password-change or e-mail forms
without ending in the same lockout as the login page.
"""

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm, UserCreationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts.models import User
from accounts.services import EMAIL_TAKEN_MESSAGE, SIGNUP_TAKEN_MESSAGE
from catalog.models import BROWSE_GENRES
from imdbrec.parsing import DistinctMultipleChoiceField

WRONG_PASSWORD_MESSAGE = "That is not your password."  # noqa: S105 - a message, not a password


def password_confirmed(*, request, user: User, password: str) -> bool:
    """``password`` is ``user``'s, checked the way a login is (counted by the lockout)."""
    return authenticate(request, username=user.get_username(), password=password) is not None


def _taken_errors_replace(form: forms.BaseForm, codes: set[str], message: str) -> None:
    """Put ``message`` for the model's uniqueness constraints (``Meta.constraints``, checked when a
    ModelForm cleans its instance), so the page does not say whether the name or the address is
    the one taken."""
    errors = form.errors.get(NON_FIELD_ERRORS)
    if not errors:
        return
    kept = [error for error in errors.as_data() if error.code not in codes]
    if len(kept) == len(errors):
        return
    del form.errors[NON_FIELD_ERRORS]
    for error in kept:
        form.add_error(None, error)
    form.add_error(None, ValidationError(message, code="taken"))


class SignupForm(UserCreationForm):
    """Username, email and a password checked by ``AUTH_PASSWORD_VALIDATORS``.

    Whether the user name or the address is taken is not checked here: the sign-up service answers
    both with one message (and the database settles concurrent sign-ups), so the page does not say
    which addresses have an account.
    """

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

    def clean_username(self):
        return self.cleaned_data["username"]  # UserCreationForm's own check says "already exists"

    def clean_email(self):
        return User.objects.normalize_email(self.cleaned_data["email"]).strip()

    def validate_unique(self):
        pass  # accounts.services.user_signup: one message for a taken name or address

    def full_clean(self):
        super().full_clean()
        _taken_errors_replace(self, {"email_taken", "username_taken"}, SIGNUP_TAKEN_MESSAGE)


class ProfileForm(forms.ModelForm):
    """E-mail address and favourite genres. A new address needs the current password: password
    resets go there, so changing it is as sensitive as changing the password."""

    favourite_genres = DistinctMultipleChoiceField(
        choices=[(genre, genre) for genre in BROWSE_GENRES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Used for your first recommendations, before you have rated enough titles.",
    )
    current_password = forms.CharField(
        label="Your password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed only to change your e-mail address.",
    )

    class Meta:
        model = User
        fields = ("email", "favourite_genres")

    def __init__(self, *args, request, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.original_email = self.instance.email

    def clean_email(self):
        return User.objects.normalize_email(self.cleaned_data["email"]).strip()

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        if email is not None and email.casefold() != (self.original_email or "").casefold():
            password = cleaned.get("current_password") or ""
            if not password:
                self.add_error("current_password", "Enter your password to change your e-mail address.")
            elif not password_confirmed(request=self.request, user=self.instance, password=password):
                self.add_error("current_password", WRONG_PASSWORD_MESSAGE)
        return cleaned

    def validate_unique(self):
        pass  # accounts.services.user_profile_update (and the database) refuse a taken address

    def full_clean(self):
        super().full_clean()
        _taken_errors_replace(self, {"email_taken"}, EMAIL_TAKEN_MESSAGE)


class AccountDeleteForm(forms.Form):
    """Confirm with the current password (checked like a login, counted by the lockout) and a tick."""

    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(
        label="I understand that my account, ratings, watchlist and recommendations are deleted for good."
    )

    def __init__(self, *args, user: User, request, **kwargs):
        self.user = user
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not password_confirmed(request=self.request, user=self.user, password=password):
            raise ValidationError(WRONG_PASSWORD_MESSAGE)
        return password


class LockoutPasswordChangeForm(PasswordChangeForm):
    """django.contrib.auth's password change, with the old password checked like a login."""

    def __init__(self, user, *args, request, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        if not password_confirmed(request=self.request, user=self.user, password=old_password):
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password
