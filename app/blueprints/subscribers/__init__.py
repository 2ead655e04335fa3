from flask import Blueprint

bp = Blueprint("subscribers", __name__)
