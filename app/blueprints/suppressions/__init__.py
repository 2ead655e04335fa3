from flask import Blueprint

bp = Blueprint("suppressions", __name__)
