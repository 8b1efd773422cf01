"""The forms (Flask-WTF): what users send, checked on the server, with a CSRF token on every form the
pages render. The JSON API checks its bodies with the same forms (app.py: CSRFProtect checks the
X-CSRFToken header of every API call that changes something)."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

__all__ = [
    "MAX_BODY",
    "MAX_PASSWORD",
    "MAX_TITLE",
    "MAX_USERNAME",
    "MIN_PASSWORD",
    "USERNAME",
    "LoginForm",
    "NoteForm",
    "SignupForm",
]

MAX_USERNAME = 32  # characters
MIN_PASSWORD = 8  # characters
MAX_PASSWORD = 200  # characters: hashing a megabyte-long password is work nobody needs to do
MAX_TITLE = 100  # characters
MAX_BODY = 2_000  # characters
USERNAME = re.compile(rf"[a-z0-9_-]{{1,{MAX_USERNAME}}}")


def _strip(value: Any) -> Any:
    # A field that was not sent at all (an API call without "body") is empty, not None.
    return value.strip() if isinstance(value, str) else "" if value is None else value


def _newlines(value: Any) -> Any:
    # Browsers send a textarea's line breaks as CRLF (the HTML standard says so); keep them as "\n".
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    # "Alice" and "alice" are one user: the name is kept as it is typed, in lowercase.
    return value.lower() if isinstance(value, str) else value


class SignupForm(FlaskForm):
    username = StringField(
        "User name",
        filters=[_strip, _lower],
        validators=[
            DataRequired("Choose a user name."),
            Regexp(
                rf"{USERNAME.pattern}\Z",
                message=f"A user name is 1 to {MAX_USERNAME} letters, digits, '_' or '-'.",
            ),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=MIN_PASSWORD,
                max=MAX_PASSWORD,
                message=f"A password is {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
            ),
        ],
    )
    confirm = PasswordField(
        "Password again", validators=[EqualTo("password", message="The two passwords differ.")]
    )


class LoginForm(FlaskForm):
    username = StringField(
        "User name", filters=[_strip, _lower], validators=[DataRequired("Your user name?")]
    )
    password = PasswordField(
        "Password", validators=[DataRequired("Your password?"), Length(max=MAX_PASSWORD)]
    )


class NoteForm(FlaskForm):
    title = StringField(
        "Title",
        filters=[_strip],
        validators=[
            DataRequired("A note needs a title."),
            Length(max=MAX_TITLE, message=f"The title is longer than {MAX_TITLE} characters."),
        ],
    )
    body = TextAreaField(
        "Text",
        filters=[_strip, _newlines],
        validators=[Length(max=MAX_BODY, message=f"The text is longer than {MAX_BODY} characters.")],
    )
