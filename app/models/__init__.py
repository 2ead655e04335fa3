"""All models, imported so Alembic and the app see every table."""

from app.models.advisor import DmarcRecord, DmarcReport, Recommendation  # noqa: F401
from app.models.audience import (  # noqa: F401
    Category,
    Field,
    ListSubscriber,
    MailingList,
    Segment,
    SignupForm,
    Subscriber,
    SubscriberPreference,
    SubscriberTag,
    Suppression,
)
from app.models.automation import (  # noqa: F401
    CustomerEvent,
    Flow,
    FlowEnrollment,
    FlowStepRun,
    FlowVersion,
    Product,
    ProductWatch,
)
from app.models.campaign import (  # noqa: F401
    Campaign,
    CampaignList,
    CampaignRecipient,
    CampaignSegment,
    CampaignVariant,
    Link,
)
from app.models.content import MediaFile, SavedBlock, Template, TemplateVersion  # noqa: F401
from app.models.deliverability import (  # noqa: F401
    Alert,
    DedicatedIP,
    DkimKey,
    HealthScore,
    MailboxDomain,
    PoolMember,
    SendingDomain,
    SendingIdentity,
    SendingPool,
    WarmingDay,
    WarmingPlan,
    WarmingSchedule,
)
from app.models.delivery import DeliveryStat, Provider  # noqa: F401
from app.models.events import (  # noqa: F401
    CaughtMessage,
    Event,
    EventKey,
    InboundMessage,
    InsightHour,
    Order,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookPayload,
)
from app.models.growth import (  # noqa: F401
    GiftCard,
    GiftCardTransaction,
    LoyaltyAccount,
    LoyaltyProgram,
    LoyaltyTransaction,
    Referral,
    ReferralCode,
    ReferralProgram,
)
from app.models.message import Message  # noqa: F401
from app.models.sms import SmsCampaign, SmsInbound, SmsOptOut, SmsRecipient, SmsStatusEvent  # noqa: F401
from app.models.workspace import ApiKey, AuditEntry, Invitation, Membership, User, Workspace  # noqa: F401
