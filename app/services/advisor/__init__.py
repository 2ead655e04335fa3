"""The advisor: checks of campaigns, domains and lists against what mailbox providers punish, the
recommendations they leave (with a fix Herald can apply), the pre-send gate, SpamAssassin's score of
a message, and DMARC aggregate reports read for the marketer."""
