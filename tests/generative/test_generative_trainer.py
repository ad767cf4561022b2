"""`shendu train` with a `generative:` section: each kind trains on the bundled digits, logs to the run store,
draws its pictures, writes a package that `shendu generate` loads."""
from __future__ import annotations

import json

import pytest

from shendu.cli import main
from shendu.config import ExperimentConfig
from shendu.errors import BadInputError, ConfigError
from shendu.generative import GenerativeTrainer, load_generative
from shendu.track import open_store


def _config(kind: str, epochs: int = 3, **generative) -> dict:
    return {"data": {"name": "digits"}, "optim": {"lr": 3e-3}, "train": {"epochs": epochs, "batch_size": 64},
            "track": {"tensorboard": False}, "generative": {"kind": kind, **generative}}


def _series(run_id: str, name: str) -> list[float]:
    return [row["value"] for row in open_store().metric_history(run_id, name)]


@pytest.mark.parametrize("kind,extra", [
    ("autoencoder", {}),
    ("autoencoder", {"noise": "masking", "noise_level": 0.3, "sparsity": 1e-3}),
    ("conv_autoencoder", {"args": {"code_size": 16, "width": 8}}),
    ("dbn_autoencoder", {"args": {"sizes": [64, 32, 16, 4]}, "pretrain_epochs": 5}),
])
def test_autoencoders_train_and_improve(kind, extra, seed):
    cfg = _config(kind, **extra)
    if kind == "dbn_autoencoder":  # sigmoid layers on 1,437 digits need more than 3 × 23 steps
        cfg["train"]["epochs"], cfg["optim"]["lr"] = 3, 1e-2
    result = GenerativeTrainer(cfg, progress=False).fit()
    assert result.status == "completed"
    m = result.metrics
    assert 0 <= m["test_recon_sq_error"] < m["test_loss"]  # squared error ≤ cross-entropy per pixel in [0, 1]
    val = _series(result.run_id, "val_loss")
    assert len(val) == 3 and val[-1] < val[0]  # it learned something
    record = open_store().get_run(result.run_id)
    images = {a["path"].split("/")[-1] for a in record.artifacts if a["kind"] == "image"}
    assert images == {"reconstructions.png", "interpolation.png", "codes.png"}
    if kind == "dbn_autoencoder":
        assert "pretrain_rbm1_recon_sq_error" in record.summary


def test_dbn_classifier_pretrains_then_learns_the_labels(seed):
    cfg = _config("dbn_classifier", epochs=5, args={"sizes": [64, 64, 32]}, pretrain_epochs=3)
    cfg["optim"]["lr"] = 1e-2
    result = GenerativeTrainer(cfg, progress=False).fit()
    assert result.metrics["test_accuracy"] > 0.8  # 10 digit classes: chance is 0.1
    record = open_store().get_run(result.run_id)
    assert "pretrain_rbm2_free_energy" in record.summary
    with pytest.raises(BadInputError, match="classifies, it does not generate"):
        load_generative(result.package).images(2)


def test_vae_logs_kl_and_reconstruction_separately(seed):
    result = GenerativeTrainer(_config("vae", args={"latent": 2, "hidden": 64}), progress=False).fit()
    m = result.metrics
    for split in ("train", "val", "test"):
        assert {f"{split}_recon", f"{split}_kl"} <= set(m)
    assert m["test_elbo"] == pytest.approx(-(m["test_recon"] + m["test_kl"]), rel=1e-6)
    assert m["test_kl"] > 0


def test_gan_two_optimizers_and_samples(seed, tmp_path):
    result = GenerativeTrainer(_config("gan", epochs=2, args={"latent": 16, "width": 8},
                                       ), progress=False).fit()
    m = result.metrics
    assert {"train_loss_d", "train_loss_g", "test_d_real", "test_d_fake"} <= set(m)
    assert main(["generate", result.package, "--n", "9", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_char_rnn_learns_a_text_and_samples(seed, tmp_path, capsys):
    text = tmp_path / "abc.txt"
    text.write_text("abcabcabd " * 400, encoding="utf-8")
    cfg = _config("char_rnn", epochs=4, text_file=str(text), args={"hidden": 32, "layers": 1, "seq_len": 20})
    cfg["optim"]["lr"] = 1e-2
    result = GenerativeTrainer(cfg, progress=False).fit()
    # uniform over 5 characters is log2(5) = 2.32 bits; the text is nearly deterministic
    assert result.metrics["test_bits_per_char"] < 1.0
    package = load_generative(result.package)
    greedy = package.text("abc", 30, temperature=0)
    assert greedy.startswith("abc") and len(greedy) == 33 and set(greedy) <= set("abcd ")
    assert main(["generate", result.run_id, "--prime", "ab", "--length", "12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["text"].startswith("ab") and len(out["text"]) == 14


def test_cli_train_routes_generative_configs_and_package_generates(tmp_path, capsys):
    path = tmp_path / "ae.yaml"
    import yaml

    path.write_text(yaml.safe_dump(_config("autoencoder", epochs=1)), encoding="utf-8")
    assert main(["train", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["status"] == "completed" and "test_recon_sq_error" in result["metrics"]
    assert open_store().get_run(result["run_id"]).model == "generative.autoencoder"
    package = load_generative(result["package"])
    images = package.images(4)
    assert images.shape == (4, 1, 8, 8) and 0 <= images.min() and images.max() <= 1


def test_resume_continues_from_the_checkpoint(seed):
    cfg = _config("autoencoder", epochs=2)
    first = GenerativeTrainer(cfg, progress=False).fit()
    store = open_store()
    # simulate a crash after epoch 2 of a 3-epoch run: the stored config says 3 epochs, status running
    record = store.get_run(first.run_id)
    run_id = store.create_run(config={**record.config, "train": {**record.config["train"], "epochs": 3}}, seed=0,
                              model=record.model, dataset=record.dataset)
    from shendu import _settings

    (_settings.subdir("runs") / run_id).mkdir(parents=True)
    runs = _settings.subdir("runs")
    (runs / first.run_id / "checkpoint.pt").rename(runs / run_id / "checkpoint.pt")
    trainer = GenerativeTrainer.resume(run_id, store=store, progress=False)
    result = trainer.fit()
    assert result.status == "completed"
    epochs = [row["epoch"] for row in store.metric_history(run_id, "train_loss")]
    assert epochs == [3]  # epochs 1-2 came from the checkpoint


def test_config_errors_name_the_generative_keys():
    with pytest.raises(ConfigError, match=r"did you mean 'generative.noise_level'"):
        ExperimentConfig.from_dict({"generative": {"noise_levl": 0.1}})
    cfg = ExperimentConfig.from_dict(_config("vae"))
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg and ExperimentConfig.from_dict({}).generative is None


def test_bad_builder_argument_is_explained():
    with pytest.raises(BadInputError, match="generative.args for 'vae'"):
        GenerativeTrainer(_config("vae", args={"latnt": 2}), progress=False).fit()
