"""Evidence photos as files: verification and derivatives, EXIF, perceptual hashes, watermark, metadata stripping.

decode.py opens and verifies an upload and makes its derivatives (process_photo); exif.py reads
what the camera recorded (makernotes.py where old cameras kept it); phash.py hashes for reuse
detection; watermark.py burns the watermark; meta.py removes location metadata without
re-encoding. Nothing is re-exported here: import the module that does the job.
"""
