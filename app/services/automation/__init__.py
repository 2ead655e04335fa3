"""Automation: what people do in the shop or the app, and what Herald does about it.

    customer_events  `POST /events`: a batch checked whole, people found or added, events stored once
                     per idempotency key, their side effects (orders, wishlists, restock requests), the
                     `after_ingest` hook that flows hook into, and the reads of the events page and a
                     person's timeline
    event_checks     what an event may say: types (built-in, custom, and the two Herald derives),
                     properties, times, keys, and what each type needs
    catalogue        `PUT /products/{sku}`; a lower price raises `price_dropped` for those who wished for
                     it dearer, stock coming back raises `back_in_stock` for those watching; the product
                     pages' reads
    watches          who watches a product (wishlist, restock), kept from the events, set-based
    product_fields   a product's fields cleaned the same way for the catalogue and for the events
    sql              the INSERT … ON CONFLICT and JSON pieces that differ between PostgreSQL and SQLite

    flow_plan        a flow's definition (trigger, steps, goals, re-entry, quiet hours) checked, and the
                     plan the engine follows
    flows            flows: create, edit, activate (a version), pause, archive, counts
    enrollment       who enters a flow (events, lists, segments, dates, the API) and who leaves (goals)
    flow_engine      the periodic job moving people through due steps, each step once
    flow_sends       a flow's email step through the campaign pipeline (a campaign per version, step, cycle)
    flow_texts       a flow's SMS step through the SMS pipeline (an SMS campaign per version, step, cycle)
    flow_webhooks    a flow's webhook step: one signed POST per person, from a job
    flow_metrics     a flow's figures: people, steps, emails, texts, revenue credited and recovered
    flow_people      who a flow reached, for the API: its emails and enrollments; a person enrolled by the API
    recipes          ready-made flows, one call then editable
    recipe_emails    the recipes' emails: visual templates from the builder's starters, reading the flow's event

New events reach flows through customer_events.after_ingest (enrollment.on_events). Send-time
optimization (a person's best hour) is events/send_time.py: campaigns use it too. Services flush;
the caller commits.
"""
