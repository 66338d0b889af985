"""scratchnet from Python in a minute: train a network, measure it, ask it about a digit you drew.

    python examples/quickstart.py

Trains 784-20-10 with the tuned settings for 3 epochs on MNIST (a few seconds), prints its test
accuracy, draws a 7 as you would in a paint program (dark ink, white page, off-centre) and asks
the network about it, then saves the network and loads it back.
"""

import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

import scratchnet

data = scratchnet.datasets.mnist()  # data/mnist in the repository; else $SCRATCHNET_DATA, the cache, a download
model = scratchnet.fit(data, preset="tuned", epochs=3,
                       on_epoch=lambda e: print(f"epoch {e.epoch}: test accuracy {e.test_accuracy:.2%}"))
print(model)
print(f"accuracy on the {len(data.test_labels):,} test images: {model.score(data.test_images, data.test_labels):.2%}")

picture = Image.new("RGB", (400, 300), "white")
ImageDraw.Draw(picture).line([(60, 40), (190, 40), (110, 250)], fill=(20, 30, 90), width=18)
answer = model.predict_digit(picture)  # a file name works too: model.predict_digit("my7.png")
print(f"the drawn 7 reads as {answer.digit} (confidence {answer.confidence:.2f}); top 3: "
      + ", ".join(f"{digit} {score:.2f}" for digit, score in answer.top3))
print("what the network saw:")
for row in answer.input[4:24]:
    print("".join("#" if v > 127 else "." if v else " " for v in row))

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "quickstart.npz"
    model.save(path)
    again = scratchnet.load(path)
    assert again.predict_digit(picture).digit == answer.digit
    print(f"saved to {path.name} and loaded back: {again}")
