"""Input and output shapes of the payments API. Conversions at the edge only
(amounts through payments.money); no business rules."""

from payments.serializers.inputs import (  # noqa: F401  the package's surface
    ID_PATTERN,
    MAX_METADATA_KEYS,
    AmountField,
    AmountOnlySerializer,
    CardInputSerializer,
    InputSerializer,
    MetadataField,
    PartialAmountMixin,
    PaymentListFilterSerializer,
    PaymentProcessSerializer,
    RefundCreateSerializer,
)
from payments.serializers.outputs import (  # noqa: F401
    CardSummarySerializer,
    PaymentAnswerSerializer,
    PaymentEventSerializer,
    PaymentSerializer,
    PaymentStatusSerializer,
    RefundAnswerSerializer,
    RefundSerializer,
)
