"""Growth: referral programs, loyalty points and gift cards.

referrals     programs, a code and share link per person, the landing page's signups, rewards once
  referral_landing   the share link's page: visits, a new friend's signup (a pending referral)
  referral_rewards   what each side gets: coupon codes Herald draws, or points through loyalty
  referral_emails    the invite, reward-earned and friend-reward emails (transactional, built-in designs)
  referral_pages     the read model of the pages and the API: funnel, top referrers, rewards given
loyalty       the program, accounts and their ledger (the balance is the ledger's sum, never below zero)
  loyalty_reads      a person's account and ledger, the program's figures, top accounts, latest entries
gift_cards    issue, sell, bulk-create; the balance ledger; redemption never below zero
  gift_card_mail     a card's email (transactional, from the builder's gift card starter), and again
ledgers       what both ledgers share: the row lock (FOR UPDATE; SQLite's write lock), money and keys
orders        what an order does here: points earned, a referral completed (on_order)
"""
