"""Texts through Twilio: people's numbers and consent, SMS campaigns (the email campaign's
lifecycle), sending within each sender's rate and the recipient's quiet hours, delivery
callbacks, replies and STOP / START / HELP.

- phones.py      numbers in E.164 (phonenumbers), read with the workspace's default country
- encoding.py    GSM-7 or UCS-2, and how many segments a text takes (what Twilio bills)
- settings.py    the workspace's help text, quiet hours, price per segment, default country
- consent.py     a person's number and consent; opted-out numbers (STOP, error 21610)
- campaigns.py   SMS campaigns: create, edit, audience, estimate, delete
- lifecycle.py   send now, schedule, pause, resume, cancel; the periodic start of due ones
- audience.py    the recipient rows a start writes, set-based, with the reasons people are skipped
- sending.py     the send job: claim, wait for the sender's slot, hand to Twilio, record
- callbacks.py   Twilio's status callbacks: signed, idempotent, never moving a message back
- inbound.py     texts people send: STOP / START / HELP and replies
- reads.py       what the pages and the API show
"""
