from rest_framework import serializers

STATUSES = "`none` (never asked for), `pending`, `processing`, `ready`, `failed` or `unsupported`"


class PreviewGenerateSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Make the previews again even when they are ready.")


class PreviewBatchGenerateSerializer(serializers.Serializer):
    fileIds = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=500,
                                    help_text="File UUIDs (at most 500).")
    force = serializers.BooleanField(default=False)


# --- answers (for the schema) ----------------------------------------------------------

class PreviewEntrySerializer(serializers.Serializer):
    status = serializers.CharField(help_text=STATUSES)
    url = serializers.CharField(allow_null=True, help_text="Where to GET the image, once ready.")
    width = serializers.IntegerField(allow_null=True, required=False)
    height = serializers.IntegerField(allow_null=True, required=False)
    bytes = serializers.IntegerField(allow_null=True, required=False)
    format = serializers.CharField(allow_null=True, required=False, help_text="`webp` or `jpeg`.")
    contentType = serializers.CharField(allow_null=True, required=False)
    tookMs = serializers.IntegerField(allow_null=True, required=False)
    attempts = serializers.IntegerField(required=False)
    error = serializers.CharField(allow_null=True, required=False)
    queuedAt = serializers.DateTimeField(allow_null=True, required=False)
    generatedAt = serializers.DateTimeField(allow_null=True, required=False)


class PreviewsByTypeSerializer(serializers.Serializer):
    thumbnail = PreviewEntrySerializer(help_text="Longest side 256 px.")
    medium = PreviewEntrySerializer(help_text="Longest side 1024 px.")


class PreviewInfoSerializer(serializers.Serializer):
    fileId = serializers.UUIDField()
    status = serializers.CharField(help_text=f"Of the file as a whole: {STATUSES}.")
    mediaKind = serializers.CharField(allow_null=True, help_text="image, video, audio, document or other.")
    media = serializers.DictField(help_text="What was learnt of the content: width/height/format (images), "
                                            "duration/width/height/codec/frameRate (video), duration/bitRate "
                                            "(audio), pages (PDF).")
    tookMs = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True, help_text="Why the preview failed or is unsupported.")
    previews = PreviewsByTypeSerializer()


class PreviewGenerateResultSerializer(PreviewInfoSerializer):
    queued = serializers.BooleanField(help_text="A task was queued by this request.")
    outcome = serializers.CharField(help_text="`queued`, `skipped` (ready or in progress) or `unsupported`.")


class PreviewPendingSerializer(serializers.Serializer):
    fileId = serializers.UUIDField()
    type = serializers.CharField()
    status = serializers.CharField(help_text="`pending` or `processing`.")
    retryAfter = serializers.IntegerField(help_text="Seconds to wait before asking again.")


class PreviewBatchItemSerializer(serializers.Serializer):
    fileId = serializers.CharField()
    outcome = serializers.CharField(help_text="`queued`, `skipped`, `unsupported` or `notFound`.")


class PreviewBatchResultSerializer(serializers.Serializer):
    requested = serializers.IntegerField()
    queued = serializers.IntegerField()
    skipped = serializers.IntegerField()
    unsupported = serializers.IntegerField()
    notFound = serializers.IntegerField()
    results = PreviewBatchItemSerializer(many=True)


class PreviewFailureSerializer(serializers.Serializer):
    blobId = serializers.IntegerField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    mediaKind = serializers.CharField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    failedAt = serializers.DateTimeField(allow_null=True)


class PreviewQueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    length = serializers.IntegerField()
    source = serializers.CharField(help_text="`broker` (Redis LLEN of the queue) or `database` (files pending).")
    pendingFiles = serializers.IntegerField()
    processingFiles = serializers.IntegerField()


class PreviewAnalyticsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Preview rows (one per content and type).")
    blobs = serializers.IntegerField(help_text="Distinct contents with previews.")
    byStatus = serializers.DictField(child=serializers.IntegerField())
    byType = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    byMediaKind = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    averageTimeMs = serializers.DictField(child=serializers.FloatField(allow_null=True),
                                          help_text="Of ready previews, per content: `all` and per media kind.")
    storedBytes = serializers.IntegerField()
    recentFailures = PreviewFailureSerializer(many=True)
    queue = PreviewQueueSerializer()
