"""growth: referral programs, codes and referrals; a loyalty program, accounts and their ledger
(balance never below zero); gift cards and their ledger

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 18:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
WHEN = sa.DateTime(timezone=True)


def _workspace():
    return sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False)


def upgrade():
    op.create_table(
        'referral_programs',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('referrer_reward', JSON, nullable=False),
        sa.Column('friend_reward', JSON, nullable=False),
        sa.Column('min_order_amount', sa.Numeric(14, 2)),
        sa.Column('currency', sa.String(3)),
        sa.Column('expiry_days', sa.Integer(), nullable=False),
        sa.Column('list_id', sa.Integer(), sa.ForeignKey('lists.id', ondelete='SET NULL')),
        sa.Column('landing', JSON, nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
    )
    op.create_index('ix_referral_programs_workspace_id', 'referral_programs', ['workspace_id'])
    op.create_table(
        'referral_codes',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('program_id', sa.Integer(), sa.ForeignKey('referral_programs.id', ondelete='CASCADE'), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('code', sa.String(40), nullable=False, unique=True),
        sa.Column('visits', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('program_id', 'subscriber_id'),
    )
    op.create_index('ix_referral_codes_subscriber_id', 'referral_codes', ['subscriber_id'])
    op.create_table(
        'referrals',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('program_id', sa.Integer(), sa.ForeignKey('referral_programs.id', ondelete='CASCADE'), nullable=False),
        sa.Column('code_id', sa.Integer(), sa.ForeignKey('referral_codes.id', ondelete='CASCADE'), nullable=False),
        sa.Column('referrer_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('friend_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id', ondelete='SET NULL')),
        sa.Column('rewards', JSON),
        sa.Column('expires_at', WHEN),
        sa.Column('completed_at', WHEN),
        sa.Column('rewarded_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('program_id', 'friend_id'),
    )
    op.create_index('ix_referrals_workspace_id', 'referrals', ['workspace_id'])
    op.create_index('ix_referrals_referrer_id', 'referrals', ['referrer_id'])
    op.create_table(
        'loyalty_programs',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('workspace_id', sa.Integer(), sa.ForeignKey('workspaces.id', ondelete='CASCADE'), nullable=False,
                  unique=True),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('points_per_unit', sa.Numeric(10, 4), nullable=False),
        sa.Column('redemption_rate', sa.Numeric(10, 4), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('expiry_days', sa.Integer()),
        sa.Column('tiers', JSON, nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
    )
    op.create_table(
        'loyalty_accounts',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('program_id', sa.Integer(), sa.ForeignKey('loyalty_programs.id', ondelete='CASCADE'), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='CASCADE'), nullable=False),
        sa.Column('balance', sa.Integer(), nullable=False),
        sa.Column('lifetime_points', sa.Integer(), nullable=False),
        sa.Column('tier', sa.String(60)),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.UniqueConstraint('program_id', 'subscriber_id'),
        sa.CheckConstraint('balance >= 0', name='ck_loyalty_accounts_balance'),
    )
    op.create_index('ix_loyalty_accounts_subscriber_id', 'loyalty_accounts', ['subscriber_id'])
    op.create_table(
        'loyalty_transactions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('loyalty_accounts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('remaining', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id', ondelete='SET NULL')),
        sa.Column('note', sa.String(500)),
        sa.Column('idempotency_key', sa.String(200)),
        sa.Column('expires_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('account_id', 'idempotency_key'),
    )
    op.create_index('ix_loyalty_transactions_account_id', 'loyalty_transactions', ['account_id'])
    op.create_index('ix_loyalty_transactions_expiring', 'loyalty_transactions', ['expires_at', 'remaining'])
    op.create_table(
        'gift_cards',
        sa.Column('id', sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column('code_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('code_encrypted', sa.Text(), nullable=False),
        sa.Column('last4', sa.String(4), nullable=False),
        sa.Column('initial_amount', sa.Numeric(14, 2), nullable=False),
        sa.Column('balance', sa.Numeric(14, 2), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('recipient_email', sa.String(320)),
        sa.Column('subscriber_id', sa.Integer(), sa.ForeignKey('subscribers.id', ondelete='SET NULL')),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id', ondelete='SET NULL')),
        sa.Column('message', sa.Text()),
        sa.Column('expires_at', WHEN),
        sa.Column('delivered_at', WHEN),
        sa.Column('created_at', WHEN, nullable=False),
        sa.CheckConstraint('balance >= 0', name='ck_gift_cards_balance'),
    )
    op.create_index('ix_gift_cards_workspace_id', 'gift_cards', ['workspace_id'])
    op.create_table(
        'gift_card_transactions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('card_id', sa.Integer(), sa.ForeignKey('gift_cards.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(12), nullable=False),
        sa.Column('amount', sa.Numeric(14, 2), nullable=False),
        sa.Column('reference', sa.String(200)),
        sa.Column('idempotency_key', sa.String(200)),
        sa.Column('created_at', WHEN, nullable=False),
        sa.UniqueConstraint('card_id', 'idempotency_key'),
    )
    op.create_index('ix_gift_card_transactions_card_id', 'gift_card_transactions', ['card_id'])


def downgrade():
    for table in ('gift_card_transactions', 'gift_cards', 'loyalty_transactions', 'loyalty_accounts',
                  'loyalty_programs', 'referrals', 'referral_codes', 'referral_programs'):
        op.drop_table(table)
