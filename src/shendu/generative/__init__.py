"""Generative and unsupervised models: RBM / DBN with greedy pretraining (Hinton & Salakhutdinov 2006),
autoencoders (deep, denoising, sparse, convolutional), VAE, DCGAN and char-RNN, with a trainer that records
runs in the same run store as supervised training. See docs/generative.md."""
from shendu.generative._package import GenerativePackage, load_generative
from shendu.generative._trainer import GenerativeTrainer, generative_trainer, train_generative
from shendu.generative.autoencoder import Autoencoder, ConvAutoencoder, unroll
from shendu.generative.char_rnn import CharRNN
from shendu.generative.deep import finetune, pretrain_dbn
from shendu.generative.gan import DCGAN
from shendu.generative.rbm import DBN, RBM, train_rbm
from shendu.generative.vae import VAE

__all__ = ["Autoencoder", "CharRNN", "ConvAutoencoder", "DBN", "DCGAN", "GenerativePackage", "GenerativeTrainer",
           "RBM", "VAE", "finetune", "generative_trainer", "load_generative", "pretrain_dbn", "train_generative",
           "train_rbm", "unroll"]
