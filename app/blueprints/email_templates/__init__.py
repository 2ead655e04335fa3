from flask import Blueprint

bp = Blueprint("email_templates", __name__)
